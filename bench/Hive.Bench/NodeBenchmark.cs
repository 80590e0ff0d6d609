using System.Diagnostics;
using System.Runtime.InteropServices;
using StackExchange.Redis;

namespace Hive.Bench;

/// <summary>What to run: sizes (quick or full), which cases, and the published node and task programs.</summary>
internal sealed record NodeBenchOptions(bool Quick, IReadOnlySet<string> Only, string HiveDll, string TasksDir)
{
    public static readonly string[] Cases = ["idle", "latency", "throughput", "output", "concurrency", "queue", "journal", "cluster"];

    /// <summary>Extra HOCON for every node under test (experiments, e.g. "akka.scheduler.tick-duration = 50ms").</summary>
    public string NodeHocon { get; init; } = "";

    public int Repetitions => 3;
    public int LatencyTasks => Quick ? 100 : 500;
    public int ThroughputTasks => Quick ? 500 : 5_000;
    public int[] ThroughputGuides => Quick ? [8] : [2, 8, 32];
    public int OutputLines => 2_000_000;
    public TimeSpan IdleWindow => Quick ? TimeSpan.FromSeconds(10) : TimeSpan.FromSeconds(60);
    public int QueuedTasks => Quick ? 3_000 : 100_000;
    public int ClusterTasks => Quick ? 240 : 480;

    /// <summary>How long a batch of n tasks may take before the case is reported failed (quick mode keeps its 5-minute budget).</summary>
    public TimeSpan BatchTimeout(int n) => Quick ? TimeSpan.FromSeconds(60 + n / 50.0) : TimeSpan.FromSeconds(120 + n / 20.0);

    public bool Runs(string name) => Only.Count == 0 || Only.Contains(name);
}

/// <summary>
/// The benchmark cases of the performance issue against the real `hive node`: latency, throughput vs a raw .NET spawn
/// loop, concurrency, output flood, idle cost, queue depth, journal, three-node cluster. Each figure is the median with
/// min–max over <see cref="NodeBenchOptions.Repetitions"/> runs, with the load average when it was taken.
/// </summary>
internal sealed class NodeBenchmark : IAsyncDisposable
{
    private static readonly TimeSpan TaskTimeout = TimeSpan.FromSeconds(60);
    private readonly NodeBenchOptions _options;
    private readonly LocalRedisServer _redis;
    private readonly LocalRabbitMqServer _rabbit;
    private readonly ConnectionMultiplexer _redisClient;
    private readonly BenchBus _bus;
    private readonly NodeSetup _setup;
    private readonly string _workRoot;
    private readonly Scorecard _card = new();
    private double? _idleRssMb;

    private NodeBenchmark(NodeBenchOptions options, LocalRedisServer redis, LocalRabbitMqServer rabbit, ConnectionMultiplexer redisClient, BenchBus bus, string workRoot)
    {
        _options = options;
        _redis = redis;
        _rabbit = rabbit;
        _redisClient = redisClient;
        _bus = bus;
        _workRoot = workRoot;
        _setup = new NodeSetup(options.HiveDll, options.TasksDir, rabbit.Uri, redis.Endpoint, workRoot, options.NodeHocon);
    }

    public static async Task<int> RunAsync(NodeBenchOptions options)
    {
        foreach (var program in new[] { "stamp", "nop", "nap", "flood" })
            if (!File.Exists(Path.Combine(options.TasksDir, program)))
                throw new FileNotFoundException($"task program '{program}' is missing in {options.TasksDir}; run the benchmark through bench/run, which compiles bench/tasks/*.c");
        if (!File.Exists(options.HiveDll)) throw new FileNotFoundException($"{options.HiveDll} not found; bench/run publishes Hive.Node there");

        Console.WriteLine($"Hive benchmark ({(options.Quick ? "quick" : "full")}), {DateTime.Now:yyyy-MM-dd HH:mm}");
        Console.WriteLine($"Machine: {Machine.Describe()}");
        var total = Stopwatch.StartNew();
        var redisStart = LocalRedisServer.StartAsync();
        var rabbitStart = LocalRabbitMqServer.StartAsync();
        var redis = await redisStart;
        var rabbit = await rabbitStart;
        var redisClient = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString + ",allowAdmin=true");
        var bus = await BenchBus.ConnectAsync(rabbit.Uri);
        var workRoot = Directory.CreateTempSubdirectory("hive-bench-work-").FullName;
        if (options.NodeHocon.Length > 0) Console.WriteLine($"Node settings added: {options.NodeHocon.ReplaceLineEndings("; ").TrimEnd(' ', ';')}");
        Console.WriteLine($"Brokers: redis-server 127.0.0.1:{redis.Port} (no persistence), rabbitmq-server 127.0.0.1:{rabbit.Port}; node: {options.HiveDll}; tasks: {options.TasksDir}");
        await using var bench = new NodeBenchmark(options, redis, rabbit, redisClient, bus, workRoot);
        var interrupted = 0;
        void OnSignal(PosixSignalContext context)
        {
            // Never leave brokers and nodes behind: kill the nodes, stop the brokers, then exit.
            context.Cancel = true;
            if (Interlocked.Exchange(ref interrupted, 1) == 1) return;
            Console.WriteLine($"{context.Signal}: stopping the nodes and brokers");
            BenchNode.KillAll();
            bench.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(30));
            Environment.Exit(130);
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        await bench.RunCasesAsync();
        bench._card.Print();
        Console.WriteLine($"total time {total.Elapsed.TotalSeconds:F0} s, load {Machine.LoadAverage()}");
        return 0;
    }

    public async ValueTask DisposeAsync()
    {
        await _bus.DisposeAsync();
        await _redisClient.DisposeAsync();
        await _rabbit.DisposeAsync();
        await _redis.DisposeAsync();
        try { Directory.Delete(_workRoot, recursive: true); } catch (IOException) { }
    }

    private async Task RunCasesAsync()
    {
        // One fresh 8-guide node serves the idle figure first, then latency, the output flood and live throughput at 8 guides.
        if (new[] { "idle", "latency", "throughput", "output" }.Any(_options.Runs))
            await Case("8-guide node", async () =>
            {
                await using var node = await StartNodeAsync(8);
                if (_options.Runs("idle")) await Case("idle", () => IdleAsync(node));
                if (_options.Runs("latency")) await Case("latency", () => LatencyAsync(node));
                if (_options.Runs("output")) await Case("output", () => OutputAsync(node));
                // Last: the pre-filled half stops this node.
                if (_options.Runs("throughput")) await Case("throughput", () => ThroughputAsync(8, node));
            });
        if (_options.Runs("throughput"))
            foreach (var guides in _options.ThroughputGuides.Where(g => g != 8))
                await Case($"throughput {guides} guides", async () =>
                {
                    await using var node = await StartNodeAsync(guides);
                    await ThroughputAsync(guides, node);
                });
        if (_options.Runs("concurrency"))
        {
            await Case("concurrency 200", () => ConcurrencyAsync(200, 2.0, targetSeconds: 2.2, targetRssMb: null));
            await Case("concurrency 1000", () => ConcurrencyAsync(1_000, 5.0, targetSeconds: 5.8, targetRssMb: 300));
        }

        if (_options.Runs("queue")) await Case("queue", QueueDepthAsync);
        if (_options.Runs("cluster")) await Case("cluster", ClusterAsync);
        if (_options.Runs("journal"))
            await Case("journal", async () =>
            {
                Console.WriteLine();
                Console.WriteLine("== 7. Journal (Hive.Persistence.Redis, its own redis-server)");
                await JournalBenchmark.RunAsync(_card);
            });
    }

    private async Task Case(string name, Func<Task> body)
    {
        try
        {
            await body();
        }
        catch (Exception e)
        {
            Console.WriteLine($"  case '{name}' FAILED: {e.GetType().Name}: {e.Message}");
            _card.Add($"{name} ran", false, e.Message.Split('\n')[0]);
        }
        finally
        {
            await DrainQueueAsync();
        }
    }

    // ---- 5. idle ---------------------------------------------------------------------------------------------------

    private async Task IdleAsync(BenchNode node)
    {
        Heading($"5. Idle node, 8 guides: {_options.Repetitions} windows of {_options.IdleWindow.TotalSeconds:F0} s (after 5 s settling)");
        await Task.Delay(TimeSpan.FromSeconds(5));
        var rss = new List<double>();
        var cpu = new List<double>();
        for (var rep = 0; rep < _options.Repetitions; rep++)
        {
            var cpu0 = node.CpuSeconds();
            var watch = Stopwatch.StartNew();
            await Task.Delay(_options.IdleWindow);
            cpu.Add((node.CpuSeconds() - cpu0) / watch.Elapsed.TotalSeconds * 100);
            rss.Add(node.Memory().RssMb);
            Console.WriteLine($"  window {rep + 1}: RSS {rss[^1]:F1} MB, CPU {cpu[^1]:F2} % of a core, threads {node.Memory().Threads}, load {Machine.LoadAverage()}");
        }

        var load = Machine.LoadAverage();
        _idleRssMb = Summary.Of(rss).Median;
        Figure("idle RSS", Summary.Of(rss).Format("F1", "MB"), load);
        Figure("idle CPU", Summary.Of(cpu).Format("F2", "% of a core"), load);
        _card.Add("idle node RSS <= 100 MB", Summary.Of(rss).Median <= 100, $"{Summary.Of(rss).Format("F1", "MB")}, load {load}");
        _card.Add("idle node CPU <= 1 % of a core", Summary.Of(cpu).Median <= 1, $"{Summary.Of(cpu).Format("F2", "%")}, load {load}");
    }

    // ---- 1. latency ------------------------------------------------------------------------------------------------

    private const int LatencyWarmUp = 500;

    private async Task LatencyAsync(BenchNode node)
    {
        Heading($"1. Latency, idle node: {_options.LatencyTasks} sequential tasks of `stamp` (reads CLOCK_MONOTONIC first thing) x {_options.Repetitions}, after {LatencyWarmUp} warm-up tasks");
        // Warm-up: JIT, connections, and the shards. A task id's first claim in one of the 100 shards makes the shard
        // coordinator allocate that shard (0.5-1 ms once per shard in a cluster's life); ~500 random ids reach every shard.
        for (var i = 0; i < LatencyWarmUp; i++) await OneLatencyAsync(node);
        var figures = new Dictionary<string, List<double>>();
        foreach (var key in new[] { "start p50", "start p95", "start p99", "start max", "result p50", "result p99" }) figures[key] = [];
        for (var rep = 0; rep < _options.Repetitions; rep++)
        {
            var start = new List<double>();
            var result = new List<double>();
            for (var i = 0; i < _options.LatencyTasks; i++)
            {
                var (s, r) = await OneLatencyAsync(node);
                start.Add(s);
                result.Add(r);
            }

            figures["start p50"].Add(Percentiles.Of(start, 50));
            figures["start p95"].Add(Percentiles.Of(start, 95));
            figures["start p99"].Add(Percentiles.Of(start, 99));
            figures["start max"].Add(start.Max());
            figures["result p50"].Add(Percentiles.Of(result, 50));
            figures["result p99"].Add(Percentiles.Of(result, 99));
            Console.WriteLine($"  run {rep + 1}: publish->start p50 {figures["start p50"][^1]:F2} p95 {figures["start p95"][^1]:F2} p99 {figures["start p99"][^1]:F2} max {figures["start max"][^1]:F2} ms | " +
                              $"publish->result p50 {figures["result p50"][^1]:F2} p99 {figures["result p99"][^1]:F2} ms | load {Machine.LoadAverage()}");
        }

        var load = Machine.LoadAverage();
        foreach (var (key, values) in figures) Figure($"publish -> {key.Replace("start", "script start").Replace("result", "result received")}", Summary.Of(values).Format("F2", "ms"), load);
        _card.Add("publish -> script start p50 <= 1.2 ms", Summary.Of(figures["start p50"]).Median <= 1.2, $"{Summary.Of(figures["start p50"]).Format("F2", "ms")}, load {load}");
        _card.Add("publish -> script start p99 <= 3 ms", Summary.Of(figures["start p99"]).Median <= 3, $"{Summary.Of(figures["start p99"]).Format("F2", "ms")}, load {load}");
        _card.Add("publish -> result p50 <= 3 ms", Summary.Of(figures["result p50"]).Median <= 3, $"{Summary.Of(figures["result p50"]).Format("F2", "ms")}, load {load}");
    }

    private async Task<(double StartMs, double ResultMs)> OneLatencyAsync(BenchNode node)
    {
        var id = BenchBus.Id("lat");
        var batch = _bus.Expect([id]);
        var published = await _bus.PublishAsync(id, "stamp");
        await batch.WaitAsync(TaskTimeout, () => $"task {id}; node log tail:\n{node.LogTail(40)}");
        var arrival = batch.Arrivals[id];
        if (arrival.State != "succeeded" || arrival.StartNs is null)
            throw new InvalidOperationException($"latency task {id} ended {arrival.State} without a start stamp");
        return ((arrival.StartNs.Value - published) / 1e6, (arrival.ReceivedNs - published) / 1e6);
    }

    // ---- 2. throughput ---------------------------------------------------------------------------------------------

    private async Task ThroughputAsync(int guides, BenchNode node)
    {
        var n = _options.ThroughputTasks;
        Heading($"2. Throughput, {guides} guides: {n:N0} x `nop` (exits at once), live and pre-filled, vs a raw .NET Process.Start loop of {n:N0} at concurrency {guides}");
        await RunTasksAsync("nop", null, 50); // warm-up
        var live = new List<double>();
        var raw = new List<double>();
        for (var rep = 0; rep < _options.Repetitions; rep++)
        {
            live.Add(await LiveRateAsync("nop", null, n));
            raw.Add(await RawLoopRateAsync(guides, n));
            Console.WriteLine($"  run {rep + 1}: hive live {live[^1],7:F0} tasks/s | raw loop {raw[^1],7:F0} starts/s | ratio {live[^1] / raw[^1]:F2} | load {Machine.LoadAverage()}");
        }

        await node.StopAsync();
        await FlushRedisAsync();
        var prefilled = new List<double>();
        for (var rep = 0; rep < _options.Repetitions; rep++)
        {
            prefilled.Add(await PrefilledRateAsync(guides, n));
            Console.WriteLine($"  run {rep + 1}: hive pre-filled {prefilled[^1],7:F0} tasks/s | ratio to raw run {rep + 1}: {prefilled[^1] / raw[rep]:F2} | load {Machine.LoadAverage()}");
        }

        var load = Machine.LoadAverage();
        var liveRatio = Summary.Of(live.Zip(raw, (h, r) => h / r));
        var preRatio = Summary.Of(prefilled.Zip(raw, (h, r) => h / r));
        Figure($"hive live, {guides} guides", Summary.Of(live).Format("F0", "tasks/s"), load);
        Figure($"hive pre-filled, {guides} guides", Summary.Of(prefilled).Format("F0", "tasks/s"), load);
        Figure($"raw .NET spawn loop, concurrency {guides}", Summary.Of(raw).Format("F0", "starts/s"), load);
        Figure($"ratio hive live / raw", liveRatio.Format("F2", "x"), load);
        Figure($"ratio hive pre-filled / raw", preRatio.Format("F2", "x"), load);
        if (guides == 8)
        {
            _card.Add("throughput at 8 guides, live >= 0.5 x raw spawn loop", liveRatio.Median >= 0.5, $"{liveRatio.Format("F2", "x")}, load {load}");
            _card.Add("throughput at 8 guides, pre-filled >= 0.5 x raw spawn loop", preRatio.Median >= 0.5, $"{preRatio.Format("F2", "x")}, load {load}");
        }
    }

    /// <summary>Publishes n tasks to a running node; tasks/s from the first publish to the last result.</summary>
    private async Task<double> LiveRateAsync(string script, object? args, int n)
    {
        var (first, last) = await RunTasksAsync(script, args, n);
        return n / ((last - first) / 1e9);
    }

    /// <summary>Runs n tasks on the running node(s); returns the first publish and last result times (ns).</summary>
    // Of the last RunTasksAsync: when its last publish returned and its first result arrived (monotonic ns), and how far
    // apart its scripts started and ended (the node's startedAt / endedAt): where a batch's wall time above the sleep goes.
    private long LastPublishNs, FirstResultNs;
    private TimeSpan StartSpread, EndSpread;

    private async Task<(long FirstPublishNs, long LastResultNs)> RunTasksAsync(string script, object? args, int n)
    {
        var ids = Enumerable.Range(0, n).Select(_ => BenchBus.Id(script)).ToArray();
        var batch = _bus.Expect(ids);
        var first = Machine.NowNs();
        foreach (var id in ids) await _bus.PublishAsync(id, script, args);
        LastPublishNs = Machine.NowNs();
        await batch.WaitAsync(_options.BatchTimeout(n));
        EnsureSucceeded(batch);
        FirstResultNs = batch.Arrivals.Values.Min(a => a.ReceivedNs);
        var started = batch.Arrivals.Values.Where(a => a.StartedAt is not null).Select(a => a.StartedAt!.Value).ToArray();
        var ended = batch.Arrivals.Values.Where(a => a.EndedAt is not null).Select(a => a.EndedAt!.Value).ToArray();
        StartSpread = started.Length > 0 ? started.Max() - started.Min() : TimeSpan.Zero;
        EndSpread = ended.Length > 0 ? ended.Max() - ended.Min() : TimeSpan.Zero;
        return (first, batch.Arrivals.Values.Max(a => a.ReceivedNs));
    }

    /// <summary>Fills the queue with n tasks, then starts a node: tasks/s between the first and the last result.</summary>
    private async Task<double> PrefilledRateAsync(int guides, int n)
    {
        var ids = Enumerable.Range(0, n).Select(_ => BenchBus.Id("pre")).ToArray();
        var batch = _bus.Expect(ids);
        foreach (var id in ids) await _bus.PublishAsync(id, "nop");
        await _bus.WaitForDepthAsync((uint)n, TimeSpan.FromSeconds(60));
        await using var node = await StartNodeAsync(guides, waitForConsumer: false);
        await batch.WaitAsync(_options.BatchTimeout(n), () => node.LogTail(40));
        EnsureSucceeded(batch);
        var times = batch.Arrivals.Values.Select(a => a.ReceivedNs).Order().ToArray();
        await node.StopAsync();
        await FlushRedisAsync();
        return (n - 1) / ((times[^1] - times[0]) / 1e9);
    }

    /// <summary>The baseline: the same program started n times by Process.Start (output redirected, as Hive does), at the same concurrency, no queue.</summary>
    private async Task<double> RawLoopRateAsync(int concurrency, int n)
    {
        var program = Path.Combine(_options.TasksDir, "nop");
        var next = -1;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < n)
            {
                var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                psi.ArgumentList.Add("{\"requestId\":\"raw\",\"action\":null}");
                using var p = Process.Start(psi)!;
                var drain = Task.WhenAll(p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync());
                await p.WaitForExitAsync();
                await drain;
                if (p.ExitCode != 0) throw new InvalidOperationException($"{program} exited {p.ExitCode}");
            }
        })));
        return n / watch.Elapsed.TotalSeconds;
    }

    // ---- 4. output flood -------------------------------------------------------------------------------------------

    private async Task OutputAsync(BenchNode node)
    {
        var lines = _options.OutputLines;
        Heading($"4. Output flood: `flood` prints {lines:N0} lines; standalone into `| cat > /dev/null` vs under Hive (publish -> result)");
        var args = new { lines };
        var argv1 = $"{{\"requestId\":\"standalone\",\"action\":{{\"lines\":{lines}}}}}";
        var standalone = new List<double>();
        var hive = new List<double>();
        var ops = new List<double>();
        var peakOps = new List<double>();
        await RunTasksAsync("flood", new { lines = lines / 10 }, 1); // warm-up: the node's large-output path is JIT-compiled here
        for (var rep = 0; rep < _options.Repetitions; rep++)
        {
            var watch = Stopwatch.StartNew();
            var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            foreach (var a in new[] { "-c", "\"$0\" \"$1\" | cat > /dev/null", Path.Combine(_options.TasksDir, "flood"), argv1 }) psi.ArgumentList.Add(a);
            using (var p = Process.Start(psi)!) await p.WaitForExitAsync();
            standalone.Add(watch.Elapsed.TotalSeconds);

            var server = _redisClient.GetServer(_redis.Endpoint);
            var commands0 = await TotalCommandsAsync(server);
            using var stopSampling = new CancellationTokenSource();
            var peak = SamplePeakOpsAsync(server, stopSampling.Token);
            var (first, last) = await RunTasksAsync("flood", args, 1);
            var seconds = (last - first) / 1e9;
            await stopSampling.CancelAsync();
            var commands1 = await TotalCommandsAsync(server);
            hive.Add(seconds);
            ops.Add((commands1 - commands0) / seconds);
            peakOps.Add(await peak);
            Console.WriteLine($"  run {rep + 1}: standalone {standalone[^1]:F2} s | hive {hive[^1]:F2} s | ratio {hive[^1] / standalone[^1]:F2} | redis {ops[^1]:F0} commands/s (peak instantaneous {peakOps[^1]:F0}) | load {Machine.LoadAverage()}");
        }

        var load = Machine.LoadAverage();
        var ratio = Summary.Of(hive.Zip(standalone, (h, s) => h / s));
        Figure("standalone into a pipe", Summary.Of(standalone).Format("F2", "s"), load);
        Figure("under hive", Summary.Of(hive).Format("F2", "s"), load);
        Figure("ratio hive / standalone", ratio.Format("F2", "x"), load);
        Figure("redis commands/s during the flood", Summary.Of(ops).Format("F0", "commands/s"), load);
        Figure("redis instantaneous_ops_per_sec peak", Summary.Of(peakOps).Format("F0", "ops/s"), load);
        _card.Add("output flood <= 1.3 x standalone", ratio.Median <= 1.3, $"{ratio.Format("F2", "x")}, load {load}");
    }

    private static async Task<long> TotalCommandsAsync(IServer server) =>
        long.Parse((await server.InfoAsync("stats")).SelectMany(g => g).First(kv => kv.Key == "total_commands_processed").Value);

    private static async Task<double> SamplePeakOpsAsync(IServer server, CancellationToken token)
    {
        double peak = 0;
        try
        {
            while (!token.IsCancellationRequested)
            {
                await Task.Delay(250, token);
                var value = (await server.InfoAsync("stats")).SelectMany(g => g).First(kv => kv.Key == "instantaneous_ops_per_sec").Value;
                peak = Math.Max(peak, double.Parse(value));
            }
        }
        catch (OperationCanceledException)
        {
        }

        return peak;
    }

    // ---- 3. concurrency --------------------------------------------------------------------------------------------

    private async Task ConcurrencyAsync(int guides, double seconds, double targetSeconds, double? targetRssMb)
    {
        Heading($"3. Concurrency: {guides} x `nap {seconds}` (sleep) with {guides} guides: wall from the first publish to the last result");
        await using var node = await StartNodeAsync(guides);
        var wall = new List<double>();
        var rss = new List<double>();
        var threads = new List<double>();
        for (var rep = 0; rep < _options.Repetitions; rep++)
        {
            node.ResetPeaks();
            var (first, last) = await RunTasksAsync("nap", new { seconds }, guides);
            await Task.Delay(200); // one more sample after the last exit
            wall.Add((last - first) / 1e9);
            rss.Add(node.PeakRssMb);
            threads.Add(node.PeakThreads);
            Console.WriteLine($"  run {rep + 1}: wall {wall[^1]:F2} s (published in {(LastPublishNs - first) / 1e9:F2} s; starts spread over {StartSpread.TotalSeconds:F2} s, ends over {EndSpread.TotalSeconds:F2} s; first result at {(FirstResultNs - first) / 1e9:F2} s) | peak RSS {rss[^1]:F0} MB (VmHWM {node.Memory().HwmMb:F0} MB) | peak threads {threads[^1]} | load {Machine.LoadAverage()}");
        }

        var load = Machine.LoadAverage();
        var hwm = node.Memory().HwmMb;
        Figure($"{guides} x sleep {seconds}: wall", Summary.Of(wall).Format("F2", "s"), load);
        Figure($"{guides} x sleep {seconds}: node peak RSS", Summary.Of(rss).Format("F0", "MB") + $", VmHWM over the node's life {hwm:F0} MB", load);
        Figure($"{guides} x sleep {seconds}: node peak threads", Summary.Of(threads).Format("F0", "threads"), load);
        _card.Add($"{guides} x sleep {seconds} in <= {targetSeconds} s", Summary.Of(wall).Median <= targetSeconds, $"{Summary.Of(wall).Format("F2", "s")}, load {load}");
        if (targetRssMb is { } limit)
            _card.Add($"{guides} x sleep {seconds}: node peak RSS <= {limit} MB", hwm <= limit, $"VmHWM {hwm:F0} MB, sampled peaks {Summary.Of(rss).Format("F0", "MB")}, load {load}");
    }

    // ---- 6. queue depth --------------------------------------------------------------------------------------------

    private async Task QueueDepthAsync()
    {
        var n = _options.QueuedTasks;
        Heading($"6. Queue depth: {n:N0} `nop` tasks queued before an 8-guide node starts; RSS every 0.5 s, drain rate per thousand results (one run)");
        var ids = Enumerable.Range(0, n).Select(_ => BenchBus.Id("q")).ToArray();
        var batch = _bus.Expect(ids);
        foreach (var id in ids) await _bus.PublishAsync(id, "nop");
        await _bus.WaitForDepthAsync((uint)n, TimeSpan.FromSeconds(120));
        await using var node = await StartNodeAsync(8, waitForConsumer: false);
        var rss = new List<double>();
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
            try
            {
                while (await timer.WaitForNextTickAsync(stop.Token)) lock (rss) rss.Add(node.Memory().RssMb);
            }
            catch (OperationCanceledException)
            {
            }
        });
        await batch.WaitAsync(_options.BatchTimeout(n) * 2, () => node.LogTail(40));
        await stop.CancelAsync();
        await sampler;
        EnsureSucceeded(batch);
        var times = batch.Arrivals.Values.Select(a => a.ReceivedNs).Order().ToArray();
        var slices = new List<double>();
        for (var end = 999; end < times.Length; end += 1000)
        {
            var start = end == 999 ? 0 : end - 1000;
            slices.Add((end - start) / ((times[end] - times[start]) / 1e9));
        }

        var load = Machine.LoadAverage();
        var overall = (n - 1) / ((times[^1] - times[0]) / 1e9);
        var rssSummary = Summary.Of(rss);
        var idle = _idleRssMb;
        Figure("drain rate, overall", $"{overall:F0} tasks/s", load);
        Figure("drain rate per thousand", $"first {slices[0]:F0}, last {slices[^1]:F0}, median {Summary.Of(slices).Median:F0}, min {slices.Min():F0}, max {slices.Max():F0} tasks/s over {slices.Count} slices", load);
        Figure("node RSS while draining", $"{rssSummary.Format("F1", "MB")} over {rss.Count} samples; first {rss[0]:F1}, last {rss[^1]:F1}; idle figure {(idle is null ? "not measured" : $"{idle:F1} MB")}", load);
        _card.Add("queued tasks: node RSS within 20 % of idle", idle is not null && rssSummary.Max <= idle * 1.2,
            idle is null ? "idle figure not measured (run with idle)" : $"max {rssSummary.Max:F1} MB vs idle {idle:F1} MB ({(rssSummary.Max / idle.Value - 1) * 100:+0;-0} %), load {load}");
        _card.Add("queued tasks: drain rate steady (last thousand >= 0.8 x first)", slices[^1] >= 0.8 * slices[0],
            $"first {slices[0]:F0}/s, last {slices[^1]:F0}/s ({slices[^1] / slices[0]:F2} x), load {load}");
    }

    // ---- 8. cluster ------------------------------------------------------------------------------------------------

    private async Task ClusterAsync()
    {
        var n = _options.ClusterTasks;
        Heading($"8. Cluster: {n} x `nap 0.2` with 4 guides per node, one node vs three on loopback (tasks/s from first publish to last result)");
        var args = new { seconds = 0.2 };
        await using var a = await StartNodeAsync(4);
        await RunTasksAsync("nap", args, 8); // warm-up
        var one = new List<double>();
        for (var rep = 0; rep < _options.Repetitions; rep++)
        {
            one.Add(await LiveRateAsync("nap", args, n));
            Console.WriteLine($"  run {rep + 1}: one node {one[^1]:F1} tasks/s (ideal {4 / 0.2:F0}) | load {Machine.LoadAverage()}");
        }

        var seeds = $"localhost:{a.ClusterPort}";
        var bStart = BenchNode.StartAsync(_setup, 4, seeds);
        var cStart = BenchNode.StartAsync(_setup, 4, seeds);
        await using var b = await bStart;
        await using var c = await cStart;
        await _bus.WaitForConsumersAsync(3, TimeSpan.FromSeconds(60));
        await Task.Delay(TimeSpan.FromSeconds(3)); // membership Up, shards allocated
        await RunTasksAsync("nap", args, 24); // warm-up
        var three = new List<double>();
        for (var rep = 0; rep < _options.Repetitions; rep++)
        {
            three.Add(await LiveRateAsync("nap", args, n));
            Console.WriteLine($"  run {rep + 1}: three nodes {three[^1]:F1} tasks/s (ideal {12 / 0.2:F0}) | ratio {three[^1] / one[rep]:F2} | load {Machine.LoadAverage()}");
        }

        var load = Machine.LoadAverage();
        var ratio = Summary.Of(three.Zip(one, (t, o) => t / o));
        Figure("one node", Summary.Of(one).Format("F1", "tasks/s"), load);
        Figure("three nodes", Summary.Of(three).Format("F1", "tasks/s"), load);
        Figure("ratio three / one", ratio.Format("F2", "x"), load);
        _card.Add("three nodes >= 2.7 x one node", ratio.Median >= 2.7, $"{ratio.Format("F2", "x")}, load {load}");
        await Task.WhenAll(c.StopAsync(), b.StopAsync());
        await a.StopAsync();
        await FlushRedisAsync();
    }

    // ---- helpers ---------------------------------------------------------------------------------------------------

    private async Task<BenchNode> StartNodeAsync(int guides, bool waitForConsumer = true)
    {
        var node = await BenchNode.StartAsync(_setup, guides);
        if (waitForConsumer) await _bus.WaitForConsumersAsync(1, TimeSpan.FromSeconds(30));
        return node;
    }

    private static void EnsureSucceeded(ResultBatch batch)
    {
        var bad = batch.Arrivals.Where(kv => kv.Value.State != "succeeded").ToArray();
        if (bad.Length > 0)
            throw new InvalidOperationException($"{bad.Length} tasks did not succeed, e.g. {bad[0].Key}: {bad[0].Value.State} ({bad[0].Value.Reason})");
    }

    /// <summary>After a case, nothing may be left for the next one: a failed case's tasks are purged once no node consumes.</summary>
    private async Task DrainQueueAsync()
    {
        try
        {
            var (messages, consumers) = await _bus.QueueAsync();
            if (messages > 0 && consumers == 0)
            {
                await _bus.PurgeAsync();
                Console.WriteLine($"  ({messages} tasks were left on the queue by a failed case: purged)");
            }
        }
        catch (Exception e)
        {
            Console.WriteLine($"  (queue check failed: {e.Message})");
        }
    }

    /// <summary>Empties Redis between nodes (never while a node runs), so each case starts from the same store.</summary>
    private async Task FlushRedisAsync() => await _redisClient.GetServer(_redis.Endpoint).FlushAllDatabasesAsync();

    private static void Heading(string text)
    {
        Console.WriteLine();
        Console.WriteLine($"== {text}");
    }

    private static void Figure(string name, string value, string load) => Console.WriteLine($"  {name}: {value} [load {load}]");
}
