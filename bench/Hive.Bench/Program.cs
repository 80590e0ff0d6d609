using Hive.Bench;

// Usage:
//   bench/run [--quick] [--only case,case]          (builds, then runs `node` below)
//   dotnet Hive.Bench.dll node --hive-dll PATH --tasks DIR [--quick] [--only idle,latency,throughput,output,concurrency,queue,journal,cluster] [--node-hocon "key = value"]
//   dotnet run -c Release --project bench/Hive.Bench -- journal
var mode = args.FirstOrDefault() ?? "journal";
return mode switch
{
    "journal" => await JournalBenchmark.RunAsync(),
    "node" => await RunNodeAsync(args[1..]),
    _ => Usage(),
};

static async Task<int> RunNodeAsync(string[] args)
{
    string? hiveDll = null, tasks = null;
    var nodeHocon = "";
    var quick = false;
    var only = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
    for (var i = 0; i < args.Length; i++)
    {
        switch (args[i])
        {
            case "--quick": quick = true; break;
            case "--hive-dll" when i + 1 < args.Length: hiveDll = args[++i]; break;
            case "--tasks" when i + 1 < args.Length: tasks = args[++i]; break;
            case "--node-hocon" when i + 1 < args.Length: nodeHocon += args[++i] + "\n"; break;
            case "--only" when i + 1 < args.Length:
                foreach (var name in args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (!NodeBenchOptions.Cases.Contains(name)) return Usage($"unknown case '{name}'");
                    only.Add(name);
                }

                break;
            default: return Usage($"unknown argument '{args[i]}'");
        }
    }

    if (hiveDll is null || tasks is null) return Usage("--hive-dll and --tasks are required (bench/run passes them)");
    return await NodeBenchmark.RunAsync(new NodeBenchOptions(quick, only, Path.GetFullPath(hiveDll), Path.GetFullPath(tasks)) { NodeHocon = nodeHocon });
}

static int Usage(string? error = null)
{
    if (error is not null) Console.Error.WriteLine(error);
    Console.Error.WriteLine("usage: Hive.Bench journal | Hive.Bench node --hive-dll PATH --tasks DIR [--quick] [--only " + string.Join(',', NodeBenchOptions.Cases) + "]");
    return 2;
}
