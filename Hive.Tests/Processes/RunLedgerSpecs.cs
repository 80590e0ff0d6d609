using Hive.Actors.Processes;
using Xunit;

namespace Hive.Tests.Processes;

/// <summary>
/// The run ledger's file: an append-only log of start and end lines, replayed into the runs still open, compacted now and
/// then. The entries are fake (no such process groups), so nothing here starts or kills a process.
/// </summary>
public sealed class RunLedgerSpecs : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("hive-runledger-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private string LedgerPath => Path.Combine(_root, "node.runs");

    private RunLedger NewLedger() => new(LedgerPath, _root);

    // Pids above the kernel's pid_max (at most 4,194,304): never a live process.
    private RunLedgerEntry Fake(int n, string bootId = "test-boot") =>
        new(bootId, 1_000_000_000 + n, 4242UL + (ulong)n, $"run-{n:D6}", Path.Combine(_root, $"work dir {n}"));

    private string[] FileLines() => File.ReadAllLines(LedgerPath);

    [Fact]
    public void Start_and_end_lines_replay_to_the_runs_still_open()
    {
        var ledger = NewLedger();
        Assert.Null(ledger.Record(Fake(1)));
        Assert.Null(ledger.Record(Fake(2)));
        Assert.Null(ledger.Record(Fake(3)));
        ledger.Remove(Fake(2).RunId);
        ledger.Remove("never-recorded");

        Assert.Equal([Fake(1), Fake(3)], ledger.ReadFile().OrderBy(e => e.RunId));
        Assert.Equal([Fake(1), Fake(3)], ledger.Entries.OrderBy(e => e.RunId));
        // A log: three starts and one end; forgetting an unknown run writes nothing.
        Assert.Equal([Fake(1).ToLine(), Fake(2).ToLine(), Fake(3).ToLine(), $"- {Fake(2).RunId}"], FileLines());

        ledger.Remove(Fake(1).RunId);
        ledger.Remove(Fake(3).RunId);
        Assert.Empty(ledger.ReadFile());
    }

    [Fact]
    public void Unreadable_lines_and_a_torn_last_line_are_skipped()
    {
        File.WriteAllText(LedgerPath, string.Join("\n",
            Fake(1).ToLine(),
            "not a ledger line",
            Fake(2).ToLine(),
            "",
            $"- {Fake(1).RunId}",
            Fake(3).ToLine(),
            // A write the node's death cut short: its end line never got its line break, so run 3 is still open.
            $"- {Fake(3).RunId}"));

        Assert.Equal([Fake(2), Fake(3)], NewLedger().ReadFile().OrderBy(e => e.RunId));

        // A torn start line is not a run either, even when what was written of it would parse (a cut working directory).
        File.WriteAllText(LedgerPath, $"{Fake(2).ToLine()}\n{Fake(4).ToLine()[..^3]}");
        Assert.Equal([Fake(2)], NewLedger().ReadFile());
    }

    [Fact]
    public void The_first_write_of_a_new_incarnation_starts_a_clean_file_after_a_torn_line()
    {
        File.WriteAllText(LedgerPath, $"{Fake(1).ToLine()}\n{Fake(2).ToLine()[..10]}");
        var ledger = NewLedger();

        Assert.Null(ledger.Record(Fake(3)));
        ledger.Remove(Fake(3).RunId);
        Assert.Null(ledger.Record(Fake(4)));

        // The torn bytes never get glued to a new line.
        Assert.Equal([Fake(4)], ledger.ReadFile());
        Assert.All(FileLines(), line => Assert.True(line.StartsWith("- ", StringComparison.Ordinal) || RunLedgerEntry.TryParse(line) is not null, line));
    }

    [Fact]
    public void Compaction_keeps_the_file_proportional_to_the_open_runs_after_ten_thousand_starts_and_ends()
    {
        var ledger = NewLedger();
        var keepers = Enumerable.Range(0, 10).Select(n => Fake(n)).ToArray();
        foreach (var keeper in keepers) Assert.Null(ledger.Record(keeper));

        for (var n = 100; n < 10_100; n++)
        {
            Assert.Null(ledger.Record(Fake(n)));
            ledger.Remove(Fake(n).RunId);
            if (n % 1000 == 0)
                Assert.True(FileLines().Length <= keepers.Length + 64 + 1, $"{FileLines().Length} lines after {n - 100} runs");
        }

        var lines = FileLines();
        Assert.True(lines.Length <= keepers.Length + 64 + 1, $"{lines.Length} lines for {keepers.Length} open runs");
        Assert.Equal(keepers, ledger.ReadFile().OrderBy(e => e.RunId));
        Assert.Equal(keepers, ledger.Entries.OrderBy(e => e.RunId));
        Assert.False(File.Exists(LedgerPath + ".tmp"));
    }

    [Fact]
    public void Compaction_interval_grows_with_the_open_runs_and_keeps_them_all()
    {
        var ledger = NewLedger();
        var open = Enumerable.Range(0, 1000).Select(n => Fake(n)).ToArray();
        foreach (var entry in open) Assert.Null(ledger.Record(entry));
        for (var n = 5000; n < 9000; n++)
        {
            Assert.Null(ledger.Record(Fake(n)));
            ledger.Remove(Fake(n).RunId);
        }

        // At most the open runs at the last compaction plus 4 lines per open run.
        Assert.True(FileLines().Length <= 5 * open.Length + 1, $"{FileLines().Length} lines");
        Assert.Equal(open, ledger.ReadFile().OrderBy(e => e.RunId));
    }

    [Fact]
    public void A_new_ledger_over_the_same_file_reads_what_the_previous_incarnation_wrote()
    {
        var before = NewLedger();
        for (var n = 0; n < 200; n++) Assert.Null(before.Record(Fake(n)));
        for (var n = 0; n < 200; n += 2) before.Remove(Fake(n).RunId);

        // The node is SIGKILLed here: nothing is closed or flushed beyond what each write did.
        var after = NewLedger();
        var expected = Enumerable.Range(0, 200).Where(n => n % 2 == 1).Select(n => Fake(n)).ToArray();
        Assert.Equal(expected, after.ReadFile().OrderBy(e => e.RunId));
        Assert.Empty(after.Entries);

        // And what is appended later is seen at once.
        before.Remove(Fake(1).RunId);
        Assert.Equal(expected.Skip(1), after.ReadFile().OrderBy(e => e.RunId));
    }

    [Fact]
    public void A_sweep_of_runs_from_another_boot_or_with_dead_leaders_kills_nothing_and_empties_the_ledger()
    {
        var bootId = File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
        var otherBoot = Fake(1, bootId: "another-boot");
        var deadLeader = Fake(2, bootId: bootId);
        var ended = Fake(3, bootId: bootId);
        Directory.CreateDirectory(otherBoot.WorkingDirectory);
        Directory.CreateDirectory(deadLeader.WorkingDirectory);
        var before = NewLedger();
        Assert.Null(before.Record(otherBoot));
        Assert.Null(before.Record(deadLeader));
        Assert.Null(before.Record(ended));
        before.Remove(ended.RunId);

        var ledger = NewLedger();
        var sweep = ledger.SweepOrphans();

        Assert.Equal([otherBoot, deadLeader], sweep.Recorded.OrderBy(e => e.RunId));
        Assert.Empty(sweep.Killed);
        Assert.Equal(0, sweep.Stragglers);
        Assert.Empty(ledger.ReadFile());
        Assert.Equal(0, new FileInfo(LedgerPath).Length);
        Assert.False(Directory.Exists(otherBoot.WorkingDirectory));
        Assert.False(Directory.Exists(deadLeader.WorkingDirectory));

        // The sweep left the ledger open for this incarnation's runs.
        Assert.Null(ledger.Record(Fake(4)));
        Assert.Equal([Fake(4).ToLine()], FileLines());
        Assert.Equal([Fake(4)], NewLedger().ReadFile());
    }

    [Fact]
    public void A_sweep_without_a_ledger_file_finds_nothing_and_leaves_an_empty_one()
    {
        var ledger = NewLedger();
        var sweep = ledger.SweepOrphans();

        Assert.Empty(sweep.Recorded);
        Assert.Empty(ledger.ReadFile());
        Assert.Null(ledger.Record(Fake(1)));
        Assert.Equal([Fake(1)], ledger.ReadFile());
    }

    [Fact]
    public void Eight_threads_starting_and_ending_runs_at_once_leave_a_consistent_file()
    {
        const int Threads = 8, PerThread = 500;
        var ledger = NewLedger();
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var start = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < PerThread; i++)
            {
                var entry = Fake(t * 10_000 + i);
                if (ledger.Record(entry) is { } error) errors.Enqueue(error);
                // Every thread leaves its last run open.
                if (i < PerThread - 1) ledger.Remove(entry.RunId);
            }
        })).ToArray();
        foreach (var thread in threads) thread.Start();
        foreach (var thread in threads) thread.Join();

        Assert.Empty(errors);
        var expected = Enumerable.Range(0, Threads).Select(t => Fake(t * 10_000 + PerThread - 1)).ToArray();
        Assert.Equal(expected, ledger.Entries.OrderBy(e => e.RunId));
        Assert.Equal(expected, ledger.ReadFile().OrderBy(e => e.RunId));
        Assert.Equal(expected, NewLedger().ReadFile().OrderBy(e => e.RunId));
        var lines = FileLines();
        Assert.All(lines, line => Assert.True(line.StartsWith("- ", StringComparison.Ordinal) || RunLedgerEntry.TryParse(line) is not null, line));
        Assert.True(lines.Length <= Threads + 64 + 1, $"{lines.Length} lines");
    }

    [Fact]
    public void A_failed_write_is_reported_and_the_next_write_repairs_the_file()
    {
        // A directory where the ledger file should be: the rename onto it fails.
        Directory.CreateDirectory(LedgerPath);
        var ledger = NewLedger();

        var error = ledger.Record(Fake(1));
        Assert.NotNull(error);
        Assert.Contains(LedgerPath, error);
        Assert.Equal([Fake(1)], ledger.Entries);

        Directory.Delete(LedgerPath);
        Assert.Null(ledger.Record(Fake(2)));
        Assert.Equal([Fake(1), Fake(2)], ledger.ReadFile().OrderBy(e => e.RunId));
    }

    [Theory]
    [InlineData("run with space", "/work/dir")]
    [InlineData("run-1", "/work/dir\n- run-2")]
    [InlineData("run-1", "/work/dir\r")]
    public void An_entry_that_does_not_fit_on_one_line_is_refused(string runId, string workingDirectory)
    {
        var ledger = NewLedger();

        Assert.NotNull(ledger.Record(new RunLedgerEntry("test-boot", 12345, 1, runId, workingDirectory)));
        Assert.NotNull(ledger.Record(new RunLedgerEntry("-", 12345, 1, "run-3", "/work/dir")));
        Assert.Empty(ledger.Entries);
        Assert.Empty(ledger.ReadFile());
    }
}
