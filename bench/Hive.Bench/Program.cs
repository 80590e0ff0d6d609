using Hive.Bench;

// Usage: dotnet run -c Release --project bench/Hive.Bench -- journal
var mode = args.FirstOrDefault() ?? "journal";
return mode switch
{
    "journal" => await JournalBenchmark.RunAsync(),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Hive.Bench journal");
    return 2;
}
