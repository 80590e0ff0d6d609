using Hive.Actors.Processes;
using Xunit;

namespace Hive.Tests.Processes;

/// <summary>The one-<c>posix_spawn</c> child and the pidfd exit watcher, under concurrent spawns of short-lived children.</summary>
public sealed class ChildProcessSpecs
{
    [Fact]
    public async Task Children_spawned_concurrently_that_exit_at_once_are_all_watched_to_their_exit_status()
    {
        // Short-lived children spawned from several threads at once is when pidfd numbers are reused fastest (each is closed
        // the moment its child exits, while other children being spawned still hold copies of it until their exec).
        const int threads = 8, each = 500;
        var environment = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" };
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();

        await Task.WhenAll(Enumerable.Range(0, threads).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < each; i++)
            {
                var code = (t + i) % 3;
                try
                {
                    using var child = ChildProcess.Spawn("sh", ["-c", $"exit {code}"], environment, "/");
                    var status = await child.Exited.WaitAsync(TimeSpan.FromSeconds(30));
                    if (status != code) failures.Enqueue($"pid {child.Pid} exited {status}, expected {code}");
                }
                catch (IOException e)
                {
                    failures.Enqueue(e.Message);
                }
            }
        })));

        Assert.Empty(failures);
    }
}
