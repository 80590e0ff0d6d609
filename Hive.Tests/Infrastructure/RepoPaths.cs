namespace Hive.Tests.Infrastructure;

public static class RepoPaths
{
    /// <summary>The repository root: the folder holding Hive.sln, found upwards from the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    public static string Tasks => Path.Combine(Root, "tasks");
    public static string Deploy => Path.Combine(Root, "deploy");

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Hive.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Hive.sln not found above " + AppContext.BaseDirectory);
    }
}
