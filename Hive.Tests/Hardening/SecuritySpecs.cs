using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Hive.Actors.Configuration;
using Hive.Actors.Contracts;
using Hive.Streams.Amqp;
using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using RabbitMQ.Client;
using StackExchange.Redis;
using Xunit;
using static Hive.Tests.Hardening.HardeningProbes;

namespace Hive.Tests.Hardening;

/// <summary>
/// Secrets and privileges against a real node: a password-protected Redis, RabbitMQ credentials in the URI, an API
/// token and a callback secret never reach the node's log, the CLI's output, the API's answers or a task's output; a
/// node configured with hive.tasks.run-as-user runs scripts as that unprivileged user in a working folder only that
/// user can enter. (The 401 without the token is covered by HttpApiSpecs.Writes_without_the_token_or_with_a_wrong_one_get_401…)
/// </summary>
public sealed class SecuritySpecs : IClassFixture<SecuritySpecs.NodeFixture>
{
    private readonly NodeFixture _fixture;

    public SecuritySpecs(NodeFixture fixture) => _fixture = fixture;

    /// <summary>
    /// A Redis requiring a password, a RabbitMQ (guest:guest in the URI), and a node given both through its environment,
    /// with an API token, a callback secret and, when this process is root, hive.tasks.run-as-user = "nobody".
    /// </summary>
    public sealed class NodeFixture : IAsyncLifetime
    {
        public string RedisPassword { get; } = "redis-pw-" + Guid.NewGuid().ToString("N");
        public string ApiToken { get; } = "api-token-" + Guid.NewGuid().ToString("N");
        public string CallbackSecret { get; } = "callback-secret-" + Guid.NewGuid().ToString("N");
        public string WorkRoot { get; } = Directory.CreateTempSubdirectory("hive-security-work-").FullName;

        // A root-owned copy of tasks/ that the script user can reach wherever the repository was cloned (a clone in a 0700
        // folder, e.g. one made by `mktemp -d`, would hide the repository's own tasks/ from nobody).
        public string TasksCopy { get; } = Directory.CreateTempSubdirectory("hive-security-tasks-").FullName;
        public bool RunsAsNobody { get; } = Environment.UserName == "root";
        public RedisServer Redis { get; private set; } = null!;
        public RabbitMqServer Rabbit { get; private set; } = null!;
        public HardenedNode Node { get; private set; } = null!;
        public ConnectionMultiplexer RedisClient { get; private set; } = null!;
        public HttpClient Api { get; private set; } = null!;

        public async ValueTask InitializeAsync()
        {
            // The work root must be enterable by the script user; each run's folder inside it is 0700.
            File.SetUnixFileMode(WorkRoot, (UnixFileMode)0b111_101_101);
            File.SetUnixFileMode(TasksCopy, (UnixFileMode)0b111_101_101);
            foreach (var file in Directory.GetFiles(RepoPaths.Tasks)) File.Copy(file, Path.Combine(TasksCopy, Path.GetFileName(file)));
            Redis = new RedisServer { Password = RedisPassword };
            var redis = Redis.StartAsync();
            var rabbit = RabbitMqServer.StartNewAsync();
            await redis;
            Rabbit = await rabbit;
            RedisClient = await ConnectionMultiplexer.ConnectAsync(Redis.ConnectionString);
            Node = await HardenedNode.StartAsync(new HardenedNode.Options(Rabbit.Uri, Redis.ConnectionString)
            {
                Guides = 2,
                HttpPort = FreePort.Next(),
                BrokersInEnvironment = true,
                TasksDir = TasksCopy,
                ExtraHocon = $"""
                    hive.http.token = "{ApiToken}"
                    hive.callbacks.secret = "{CallbackSecret}"
                    hive.tasks.work-dir = "{WorkRoot}"
                    hive.tasks.run-as-user = "{(RunsAsNobody ? "nobody" : "")}"
                    hive.redis.progress-interval = 200ms
                    """,
            });
            Api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Node.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };
            Api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiToken);
        }

        public async ValueTask DisposeAsync()
        {
            Api?.Dispose();
            if (Node is not null) await Node.DisposeAsync();
            if (RedisClient is not null) await RedisClient.DisposeAsync();
            if (Rabbit is not null) await Rabbit.DisposeAsync();
            if (Redis is not null) await Redis.DisposeAsync();
            try { Directory.Delete(TasksCopy, recursive: true); } catch (IOException) { }
            try { Directory.Delete(WorkRoot, true); } catch (IOException) { }
        }

        public async Task PublishAsync(object task)
        {
            var connection = await new ConnectionFactory { Uri = new Uri(Rabbit.Uri) }.CreateConnectionAsync();
            await using (connection)
            {
                await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
                await channel.BasicPublishAsync("", HiveTestBus.TaskQueue, mandatory: false, new BasicProperties { Persistent = true },
                    System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(task));
            }
        }

        public async Task<TaskStatusDocument> WaitForStatusAsync(string id, Func<TaskStatusDocument, bool> match, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            TaskStatusDocument? last = null;
            while (DateTime.UtcNow < deadline)
            {
                var value = await RedisClient.GetDatabase().StringGetAsync(RedisKeys.Task(id));
                if (!value.IsNull && match(last = TaskStatusJson.FromJson(value.ToString())!)) return last;
                await Task.Delay(100);
            }
            throw new TimeoutException($"task {id}: no matching status in {timeout}; last {(last is null ? "none" : TaskStatusJson.ToJson(last))}");
        }

        public async Task PublishControlStopAsync(string id)
        {
            var connection = await new ConnectionFactory { Uri = new Uri(Rabbit.Uri) }.CreateConnectionAsync();
            await using (connection)
            {
                await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true));
                await channel.BasicPublishAsync("hive.control", "", mandatory: false, new BasicProperties(),
                    System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { taskId = id, action = "stop" }));
            }
        }

        /// <summary>The CLI with the brokers in its environment (as an operator would: flags are visible in ps).</summary>
        public async Task<(int ExitCode, string Output)> CliAsync(string rabbitUri, string redisConfiguration, params string[] args)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "hive.dll"));
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.Environment["HIVE_RABBITMQ"] = rabbitUri;
            psi.Environment["HIVE_REDIS"] = redisConfiguration;
            psi.Environment["HIVE_API_TOKEN"] = ApiToken;
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            await p.WaitForExitAsync(cts.Token);
            return (p.ExitCode, await stdout + await stderr);
        }

        /// <summary>Every secret of this fixture, and the forms a leaked RabbitMQ password would take.</summary>
        public IEnumerable<string> Secrets(params string[] more) =>
            [RedisPassword, ApiToken, CallbackSecret, "guest:guest", ":guest@", "password=guest", .. more];
    }

    [Fact]
    public async Task Broker_passwords_the_api_token_and_the_callback_secret_never_appear_in_logs_cli_output_api_answers_or_task_output()
    {
        var f = _fixture;
        await using var backend = new CallbackListener();
        var id = HiveTestBus.NewId("secret");
        var peek = HiveTestBus.NewId("secret-peek");
        await f.PublishAsync(new { taskId = id, script = "sample-sh", args = new { steps = 1, delay = 0 }, responseUrl = backend.Url("done"), acceptUrl = backend.Url("accepted") });
        await f.PublishAsync(new { taskId = peek, script = "misbehave-peek", args = new { seconds = 0 }, progressLength = 50, resultLength = 50 });
        var done = await backend.WaitForAsync(r => r.Path == "/done", TimeSpan.FromSeconds(60));
        Assert.StartsWith("sha256=", done.Headers["X-Hive-Signature"]);
        var peeked = await f.WaitForStatusAsync(peek, s => s.State.IsFinal(), TimeSpan.FromSeconds(60));
        Assert.Equal(TaskState.Succeeded, peeked.State);

        var outputs = new List<(string Where, string Text)>
        {
            ("callback bodies", string.Join("\n", backend.Requests.Select(r => r.Body + string.Join(",", r.Headers.Values)))),
            ("status of the peeking task", TaskStatusJson.ToJson(peeked)),
        };
        var status = await f.CliAsync(f.Rabbit.Uri, f.Redis.ConnectionString, "status", id);
        Assert.True(status.ExitCode == 0, status.Output);
        Assert.Contains(id, status.Output);
        outputs.Add(("hive status", status.Output));
        var nodes = await f.CliAsync(f.Rabbit.Uri, f.Redis.ConnectionString, "nodes");
        Assert.True(nodes.ExitCode == 0, nodes.Output);
        Assert.Contains(f.Node.Name, nodes.Output);
        outputs.Add(("hive nodes", nodes.Output));
        outputs.Add(("hive tasks", (await f.CliAsync(f.Rabbit.Uri, f.Redis.ConnectionString, "tasks")).Output));
        outputs.Add(("hive --api nodes", (await f.CliAsync(f.Rabbit.Uri, f.Redis.ConnectionString, "--api", f.Api.BaseAddress!.ToString(), "nodes")).Output));

        // Failures are where connection strings leak: wrong passwords, and TLS against a plain broker (no TLS broker here).
        var wrongRedis = "wrong-redis-pw-" + Guid.NewGuid().ToString("N")[..8];
        var wrongRabbit = "wrong-rabbit-pw-" + Guid.NewGuid().ToString("N")[..8];
        var badRedis = await f.CliAsync(f.Rabbit.Uri, $"{f.Redis.Endpoint},password={wrongRedis},connectTimeout=1000", "status", id);
        Assert.NotEqual(0, badRedis.ExitCode);
        outputs.Add(("hive status with a wrong Redis password", badRedis.Output));
        var badRabbit = await f.CliAsync($"amqp://guest:{wrongRabbit}@127.0.0.1:{f.Rabbit.Port}/", f.Redis.ConnectionString, "submit", "trivial");
        Assert.NotEqual(0, badRabbit.ExitCode);
        outputs.Add(("hive submit with a wrong RabbitMQ password", badRabbit.Output));
        var tlsToPlain = await f.CliAsync($"amqps://guest:{wrongRabbit}@127.0.0.1:{f.Rabbit.Port}/", f.Redis.ConnectionString, "submit", "trivial");
        Assert.NotEqual(0, tlsToPlain.ExitCode);
        outputs.Add(("hive submit over amqps:// to a plain port", tlsToPlain.Output));

        foreach (var path in new[] { $"api/v1/tasks/{id}", $"api/v1/tasks/{peek}/logs", "api/v1/tasks", "api/v1/nodes", "metrics", "openapi/v1.json", "readyz" })
        {
            using var answer = await f.Api.GetAsync(path);
            outputs.Add(($"GET /{path} ({(int)answer.StatusCode})", await answer.Content.ReadAsStringAsync()));
        }
        // The configured token works and the same length with one character changed does not (FixedTimeEquals, see docs/faults.md).
        using (var wrong = new HttpRequestMessage(HttpMethod.Post, $"api/v1/tasks/{id}/stop"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", f.ApiToken[..^1] + (f.ApiToken[^1] == '0' ? '1' : '0'));
            using var refused = await f.Api.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            outputs.Add(("401 answer", await refused.Content.ReadAsStringAsync()));
        }

        await Task.Delay(500);
        outputs.Add(("node log", f.Node.Log));
        // The node did print its connection settings, redacted.
        Assert.Contains("***", f.Node.Log);
        var leaks = (from o in outputs from secret in f.Secrets(wrongRedis, wrongRabbit) where o.Text.Contains(secret, StringComparison.Ordinal) select $"{o.Where} holds '{secret}'").ToArray();
        Assert.True(leaks.Length == 0, string.Join("\n", leaks) + "\n" + string.Join("\n", outputs.Where(o => leaks.Any(l => l.StartsWith(o.Where, StringComparison.Ordinal)))
            .Select(o => $"--- {o.Where}:\n{(o.Text.Length > 3000 ? o.Text[..3000] : o.Text)}")));
        Report($"checked {outputs.Count} outputs ({outputs.Sum(o => o.Text.Length)} characters) for {f.Secrets().Count() + 2} secrets: none found");
    }

    [Fact]
    public async Task A_script_runs_as_the_configured_unprivileged_user_in_a_working_folder_only_that_user_can_enter()
    {
        Assert.SkipUnless(_fixture.RunsAsNobody, "hive.tasks.run-as-user needs a root node");
        var f = _fixture;
        var nobody = await RunAsync("id", "-u", "nobody");
        var nobodyUid = int.Parse(nobody.Output.Trim(), CultureInfo.InvariantCulture);
        var id = HiveTestBus.NewId("nobody");
        await f.PublishAsync(new { taskId = id, script = "misbehave-peek", args = new { seconds = 30 }, progressLength = 50, resultLength = 50, maxAttempts = 1 });
        var running = await f.WaitForStatusAsync(id, s => s.Stage?.StartsWith("dir:", StringComparison.Ordinal) == true, TimeSpan.FromSeconds(60));
        var dir = running.Stage!["dir:".Length..];
        try
        {
            Assert.Contains($"uid={nobodyUid} gid={await GidOfAsync("nobody")} user=nobody", running.Lines);
            Assert.Contains("workdir: writable", running.Lines);
            // SIGPIPE (bit 13) is not ignored in scripts, although the node ignores it.
            var ignored = running.Lines.Single(l => l.StartsWith("ignored signals: SigIgn:", StringComparison.Ordinal));
            Assert.Equal(0L, long.Parse(ignored["ignored signals: SigIgn:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture) & (1L << 12));
            // tasks/ belongs to root: a script cannot change the catalogue.
            Assert.Contains("tasks: read-only", running.Lines);
            // The node's environment (where HIVE_RABBITMQ / HIVE_REDIS / tokens live) is closed to another user.
            Assert.Contains(running.Lines, l => l.StartsWith("node environ: ", StringComparison.Ordinal) && l.Contains("Permission denied", StringComparison.Ordinal));
            Assert.DoesNotContain(running.Lines, l => f.Secrets().Any(secret => l.Contains(secret, StringComparison.Ordinal)));
            Assert.DoesNotContain(running.Lines, l => l.Contains("HIVE_REDIS", StringComparison.Ordinal) || l.Contains("HIVE_RABBITMQ", StringComparison.Ordinal));

            // The run's folder: owned by nobody, mode 0700; another unprivileged user (daemon) can neither list nor read it.
            var stat = await RunAsync("stat", "-c", "%u %a", dir);
            Assert.Equal($"{nobodyUid} 700", stat.Output.Trim());
            var otherUser = await RunAsync("setpriv", "--reuid=daemon", "--regid=daemon", "--clear-groups", "--", "ls", dir);
            Assert.NotEqual(0, otherUser.ExitCode);
            Assert.Contains("Permission denied", otherUser.Output);
            var otherRead = await RunAsync("setpriv", "--reuid=daemon", "--regid=daemon", "--clear-groups", "--", "cat", Path.Combine(dir, "secret"));
            Assert.NotEqual(0, otherRead.ExitCode);
            Assert.True(ProcessProbe.IsAlive(running.Pid!.Value));
            Assert.Equal(nobodyUid.ToString(CultureInfo.InvariantCulture), (await RunAsync("ps", "-o", "uid=", "-p", running.Pid!.Value.ToString(CultureInfo.InvariantCulture))).Output.Trim());
        }
        finally
        {
            await f.PublishControlStopAsync(id);
        }
        var final = await f.WaitForStatusAsync(id, s => s.State.IsFinal(), TimeSpan.FromSeconds(30));
        Assert.Equal(TaskState.Stopped, final.State);
        await AssertNoProcessLeftAsync(id, TimeSpan.FromSeconds(5));
        // Recycled just after the guide hears of the exit, so possibly a moment after the final status is written.
        for (var waited = 0; Directory.Exists(dir) && waited < 5_000; waited += 50) await Task.Delay(50);
        Assert.False(Directory.Exists(dir), "the run's folder is removed after the run");
    }

    private static async Task<int> GidOfAsync(string user) => int.Parse((await RunAsync("id", "-g", user)).Output.Trim(), CultureInfo.InvariantCulture);

    [Fact]
    public void Tls_settings_parse_amqps_uris_turn_tls_on_and_a_redis_ssl_option_reaches_the_connection_options_with_secrets_redacted()
    {
        // No TLS broker runs in these tests: this checks the settings reach the clients, not a handshake.
        const string amqps = "amqps://hive:amqp-secret@rabbit.example.com:5671/prod";
        var amqp = AmqpConnectionSettings.Create(amqps);
        var factory = new ConnectionFactory { Uri = amqp.Uri };
        Assert.True(factory.Ssl.Enabled);
        Assert.Equal("rabbit.example.com", factory.Ssl.ServerName);
        Assert.Equal(5671, factory.Port);
        Assert.DoesNotContain("amqp-secret", amqp.ToString());
        Assert.DoesNotContain("amqp-secret", Redact.Uri(amqps));

        const string redis = "redis.example.com:6380,ssl=true,sslHost=redis.example.com,user=hive,password=redis-secret";
        var options = ConfigurationOptions.Parse(redis);
        Assert.True(options.Ssl);
        Assert.Equal("redis.example.com", options.SslHost);
        Assert.Equal("redis-secret", options.Password);
        Assert.DoesNotContain("redis-secret", Redact.RedisConfiguration(redis));
        Assert.DoesNotContain("redis-secret", options.ToString(includePassword: false));

        var settings = HiveSettings.FromConfig(Akka.Configuration.ConfigurationFactory.ParseString(
            $"hive.rabbitmq.uri = \"{amqps}\"\nhive.redis.configuration = \"{redis}\"\nhive.tasks.run-as-user = nobody"));
        Assert.Equal(amqps, settings.RabbitUri);
        Assert.Equal("nobody", settings.RunAsUser);
        Assert.DoesNotContain("amqp-secret", settings.ToString());
        Assert.DoesNotContain("redis-secret", settings.ToString());
    }
}
