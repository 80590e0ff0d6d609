using Hive.Actors.Processes;
using Hive.Tests.Infrastructure;
using Xunit;

namespace Hive.Tests.Processes;

public sealed class ScriptCatalogSpecs : IDisposable
{
    private readonly TempTasks _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Python_shell_node_and_executable_scripts_resolve_with_their_interpreters()
    {
        _dir.Write("py.py", "print(1)");
        _dir.Write("sh.sh", "echo 1");
        _dir.Write("js.js", "console.log(1)");
        _dir.Write("bin", "#!/bin/sh\necho 1", executable: true);
        var catalog = _dir.Catalog();
        var tasksReal = new DirectoryInfo(_dir.Tasks).FullName;

        catalog.Resolve("py", out var py);
        Assert.Equal("python3", py.Program);
        Assert.Equal(["-u", Path.Combine(tasksReal, "py.py")], py.ArgumentsPrefix);

        catalog.Resolve("sh", out var sh);
        Assert.Equal("bash", sh.Program);
        catalog.Resolve("js", out var js);
        Assert.Equal("node", js.Program);

        catalog.Resolve("bin", out var bin);
        Assert.Null(bin.Interpreter);
        Assert.Equal(Path.Combine(tasksReal, "bin"), bin.Program);
        Assert.Empty(bin.ArgumentsPrefix);
        Assert.Matches("^[0-9a-f]{64}$", bin.ContentHash);
    }

    [Theory]
    [InlineData("../x", "path")]
    [InlineData("/etc/passwd", "path")]
    [InlineData("a/b", "path")]
    [InlineData("..", "..")]
    [InlineData("a..b", "..")]
    [InlineData("", "empty")]
    [InlineData(".hidden", "invalid")]
    [InlineData("-rf", "invalid")]
    [InlineData("x y", "invalid")]
    [InlineData("name;rm", "invalid")]
    [InlineData("sample.py", "extension")]
    [InlineData("sample.json", "extension")]
    public void Names_that_are_paths_or_malformed_are_rejected_before_touching_the_disk(string name, string reason)
    {
        var resolution = _dir.Catalog().Resolve(name);

        Assert.False(resolution.IsResolved);
        Assert.Contains(reason, resolution.Error);
    }

    [Fact]
    public void A_name_longer_than_128_characters_is_rejected()
    {
        var name = new string('a', 129);
        _dir.Write(name[..100] + ".sh", "echo");

        Assert.Contains("invalid", _dir.Catalog().Resolve(name).Error);
        Assert.True(_dir.Catalog().Resolve(name[..100]).IsResolved);
    }

    [Fact]
    public void A_symlink_pointing_outside_the_tasks_folder_is_rejected_but_one_inside_is_followed()
    {
        var outside = Path.Combine(_dir.Root, "outside.sh");
        File.WriteAllText(outside, "echo evil");
        File.CreateSymbolicLink(Path.Combine(_dir.Tasks, "evil.sh"), outside);
        File.CreateSymbolicLink(Path.Combine(_dir.Tasks, "passwd"), "/etc/passwd");
        var target = _dir.Write("real.sh", "echo ok");
        File.CreateSymbolicLink(Path.Combine(_dir.Tasks, "alias.sh"), "real.sh");
        var catalog = _dir.Catalog();

        Assert.Contains("outside the tasks folder", catalog.Resolve("evil").Error);
        Assert.False(catalog.Resolve("passwd").IsResolved);
        catalog.Resolve("alias", out var alias);
        Assert.Equal(new FileInfo(target).FullName, alias.Path);
    }

    [Fact]
    public void A_tasks_folder_reached_through_a_symlink_still_resolves()
    {
        _dir.Write("ok.sh", "echo ok");
        var link = Path.Combine(_dir.Root, "tasks-link");
        Directory.CreateSymbolicLink(link, _dir.Tasks);

        var resolution = new ScriptCatalog(ScriptCatalogSettings.Create(link)).Resolve("ok");

        Assert.True(resolution.IsResolved, resolution.Error);
    }

    [Fact]
    public void An_unknown_script_a_plain_non_executable_file_and_a_folder_are_unknown()
    {
        _dir.Write("data", "not a script");
        Directory.CreateDirectory(Path.Combine(_dir.Tasks, "folder.sh"));
        var catalog = _dir.Catalog();

        Assert.Contains("unknown script 'nothing'", catalog.Resolve("nothing").Error);
        Assert.Contains("unknown script", catalog.Resolve("data").Error);
        Assert.Contains("unknown script", catalog.Resolve("folder").Error);
    }

    [Fact]
    public void The_python_helper_module_is_reserved_and_never_runs_as_a_task()
    {
        _dir.Write("hive.py", "def progress(): pass");

        Assert.Contains("reserved", _dir.Catalog().Resolve("hive").Error);
        Assert.DoesNotContain(_dir.Catalog().List(), s => s.Name == "hive");
    }

    [Fact]
    public void Two_files_for_one_name_are_ambiguous()
    {
        _dir.Write("twice.py", "print(1)");
        _dir.Write("twice.sh", "echo 1");

        var error = _dir.Catalog().Resolve("twice").Error;

        Assert.Contains("ambiguous", error);
        Assert.Contains("twice.py", error);
        Assert.Contains("twice.sh", error);
    }

    [Fact]
    public void A_manifest_beside_the_script_is_parsed_and_changes_the_content_hash()
    {
        _dir.Write("job.sh", "echo 1");
        var before = _dir.Catalog().Resolve("job").Script!;
        Assert.Null(before.Manifest);

        _dir.Write("job.json", """
            { "description": "a job", "timeoutSeconds": 90, "maxAttempts": 2, "backoffSeconds": 0,
              "maxConcurrentPerNode": 1, "maxConcurrentPerCluster": 4, "expectedCpu": 0.5, "expectedMemoryMb": 128,
              "memoryLimitMb": 512, "maxOutputBytes": 1048576, "argsSchema": { "type": "object" } }
            """);
        var after = _dir.Catalog().Resolve("job").Script!;

        Assert.NotNull(after.Manifest);
        Assert.Equal(90, after.Manifest!.TimeoutSeconds);
        Assert.Equal(2, after.Manifest.MaxAttempts);
        Assert.Equal(4, after.Manifest.MaxConcurrentPerCluster);
        Assert.Equal(1048576, after.Manifest.MaxOutputBytes);
        Assert.Equal("object", after.Manifest.ArgsSchema!.Value.GetProperty("type").GetString());
        Assert.NotEqual(before.ContentHash, after.ContentHash);
    }

    [Theory]
    [InlineData("{ \"timeoutSecs\": 5 }", "timeoutSecs")]
    [InlineData("{ \"maxAttempts\": \"three\" }", "maxAttempts")]
    [InlineData("{ \"maxAttempts\": 0 }", "'maxAttempts' must be a positive number")]
    [InlineData("[1, 2]", "bad manifest")]
    [InlineData("{ not json", "bad manifest")]
    [InlineData("null", "must be a JSON object")]
    public void A_bad_manifest_is_a_clear_resolution_error(string manifest, string expected)
    {
        _dir.Write("job.sh", "echo 1");
        _dir.Write("job.json", manifest);

        var error = _dir.Catalog().Resolve("job").Error;

        Assert.NotNull(error);
        Assert.Contains("tasks/job.json", error);
        Assert.Contains(expected, error);
    }

    [Fact]
    public async Task Editing_a_script_changes_its_content_hash_once_the_last_resolution_is_older_than_the_reuse_window()
    {
        var path = _dir.Write("job.sh", "echo 1");
        var catalog = _dir.Catalog();
        var first = catalog.Resolve("job").Script!.ContentHash;
        Assert.Equal(first, catalog.Resolve("job").Script!.ContentHash);

        File.WriteAllText(path, "echo 2 # longer");
        await Task.Delay(ScriptCatalog.ReuseResolutionFor * 2, TestContext.Current.CancellationToken);

        Assert.NotEqual(first, catalog.Resolve("job").Script!.ContentHash);
    }

    [Fact]
    public void A_failed_resolution_is_never_reused_so_a_script_dropped_in_resolves_at_once()
    {
        var catalog = _dir.Catalog();
        Assert.False(catalog.Resolve("late").IsResolved);

        _dir.Write("late.sh", "echo here");

        Assert.True(catalog.Resolve("late").IsResolved);
    }

    [Fact]
    public void A_resolution_is_reused_within_the_window_and_read_again_after_it()
    {
        var path = _dir.Write("gone.sh", "echo 1");
        var catalog = _dir.Catalog();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var resolved = catalog.Resolve("gone");
        Assert.True(resolved.IsResolved);

        File.Delete(path);

        var again = catalog.Resolve("gone");
        if (clock.Elapsed < ScriptCatalog.ReuseResolutionFor) Assert.Same(resolved, again);
        Thread.Sleep(ScriptCatalog.ReuseResolutionFor * 2);
        Assert.False(catalog.Resolve("gone").IsResolved);
    }

    [Fact]
    public void The_repository_tasks_folder_lists_its_samples_and_hides_the_helper()
    {
        var catalog = new ScriptCatalog(ScriptCatalogSettings.Create(RepoPaths.Tasks));

        var names = catalog.List().Select(s => s.Name).ToList();

        Assert.Equal(names.Order(StringComparer.Ordinal), names);
        foreach (var expected in new[] { "sample", "sample-sh", "fail", "sleep", "echo-stdin", "trivial" })
            Assert.Contains(expected, names);
        Assert.DoesNotContain("hive", names);
        Assert.Equal(600, catalog.Resolve("sample").Script!.Manifest!.TimeoutSeconds);
    }
}
