using System.CommandLine;
using Hive.Actors.Configuration;
using Hive.Actors.Contracts;
using Hive.Node.Cli;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hive.Node;

public static class Program
{
    private static readonly Option<string?> ConfigOption = new("--config") { Description = "HOCON file layered over hocon/hive.conf" };
    private static readonly Option<string?> RabbitOption = new("--rabbitmq") { Description = "RabbitMQ URI (env HIVE_RABBITMQ)" };
    private static readonly Option<string?> RedisOption = new("--redis") { Description = "Redis host:port or configuration string (env HIVE_REDIS)" };
    private static readonly Option<string?> ApiOption = new("--api") { Description = "Go through this node's HTTP API, e.g. http://127.0.0.1:8080 (env HIVE_API)" };
    private static readonly Option<string?> TokenOption = new("--token") { Description = "API token for --api (env HIVE_API_TOKEN; default: the local node's token file)" };

    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("Hive: a distributed runner for long script tasks");
        root.Options.Add(ConfigOption);
        root.Options.Add(RabbitOption);
        root.Options.Add(RedisOption);
        ConfigOption.Recursive = true;
        RabbitOption.Recursive = true;
        RedisOption.Recursive = true;
        root.Options.Add(ApiOption);
        root.Options.Add(TokenOption);
        ApiOption.Recursive = true;
        TokenOption.Recursive = true;
        root.Subcommands.Add(NodeCommand());
        root.Subcommands.Add(SubmitCommand());
        root.Subcommands.Add(StatusCommand());
        root.Subcommands.Add(NodesCommand());
        root.Subcommands.Add(TasksCommand());
        root.Subcommands.Add(WatchCommand());
        root.Subcommands.Add(LogsCommand());
        foreach (var action in new[] { ControlAction.Stop, ControlAction.Pause, ControlAction.Resume })
            root.Subcommands.Add(ControlCommandFor(action));
        root.Subcommands.Add(DrainCommand());
        return await root.Parse(args).InvokeAsync();
    }

    private static HiveSettings Settings(ParseResult parse, NodeOverrides? node = null) => Load(parse, node).Settings;

    /// <summary>The CLI: through a node's HTTP API with --api / HIVE_API, else straight to RabbitMQ and Redis.</summary>
    private static HiveCli Cli(ParseResult parse)
    {
        var (settings, config) = Load(parse);
        var api = parse.GetValue(ApiOption) ?? Environment.GetEnvironmentVariable("HIVE_API");
        if (string.IsNullOrEmpty(api)) return new HiveCli(settings);
        if (!Uri.TryCreate(api.EndsWith('/') ? api : api + "/", UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new ArgumentException($"--api '{api}' is not an http:// or https:// address");
        var token = parse.GetValue(TokenOption) ?? Environment.GetEnvironmentVariable(Http.HttpApiSettings.TokenVariable)
                    ?? Http.ApiToken.ReadFile(Http.HttpApiSettings.FromConfig(config, settings).TokenFile);
        return new HiveCli(settings, uri, token);
    }

    /// <summary>The layered configuration and the settings read from it.</summary>
    private static (HiveSettings Settings, Akka.Configuration.Config Config) Load(ParseResult parse, NodeOverrides? node = null)
    {
        var overrides = (node ?? new NodeOverrides()) with
        {
            ConfigFile = parse.GetValue(ConfigOption), RabbitMq = parse.GetValue(RabbitOption), Redis = parse.GetValue(RedisOption),
        };
        var config = overrides.Build();
        return (HiveSettings.FromConfig(config), config);
    }

    private static Command NodeCommand()
    {
        var guides = new Option<int?>("--guides") { Description = "Concurrent scripts on this node (env HIVE_GUIDES)" };
        var tasks = new Option<string?>("--tasks") { Description = "Folder of task scripts (env HIVE_TASKS)" };
        var name = new Option<string?>("--name") { Description = "Node name (env HIVE_NAME)" };
        var clusterPort = new Option<int?>("--cluster-port") { Description = "Akka.Remote port (env HIVE_CLUSTER_PORT)" };
        var hostname = new Option<string?>("--hostname") { Description = "Host name other nodes reach this one at (env HIVE_CLUSTER_HOSTNAME)" };
        var seeds = new Option<string?>("--seeds") { Description = "Comma-separated seed nodes, host:port or akka.tcp://hive@host:port (env HIVE_SEEDS)" };
        var httpPort = new Option<int?>("--http-port") { Description = "HTTP API port, 0 = off (env HIVE_HTTP_PORT)" };
        var command = new Command("node", "Run a Hive node") { guides, tasks, name, clusterPort, hostname, seeds, httpPort };
        command.SetAction(async (parse, ct) =>
        {
            var (settings, config) = Load(parse, new NodeOverrides(Guides: parse.GetValue(guides), Tasks: parse.GetValue(tasks), Name: parse.GetValue(name),
                ClusterPort: parse.GetValue(clusterPort), Seeds: parse.GetValue(seeds), HttpPort: parse.GetValue(httpPort), Hostname: parse.GetValue(hostname)));
            using var host = NodeHost.Build(settings, config);
            // RunAsync disposes the host (and its service provider): take the ActorSystem first.
            var system = host.Services.GetRequiredService<Akka.Actor.ActorSystem>();
            await host.RunAsync();
            return NodeHost.ExitCode(system);
        });
        return command;
    }

    private static Command SubmitCommand()
    {
        var script = new Argument<string>("script") { Description = "Script name in tasks/ (without extension)" };
        var argsOption = new Option<string?>("--args") { Description = "Task args as JSON" };
        var id = new Option<string?>("--id") { Description = "Task id (default: a new GUID)" };
        var timeout = new Option<int?>("--timeout") { Description = "Timeout in seconds" };
        var maxAttempts = new Option<int?>("--max-attempts") { Description = "Attempts before the task ends failed" };
        var responseUrl = new Option<string?>("--response-url") { Description = "URL to POST the result to" };
        var watch = new Option<bool>("--watch") { Description = "Follow progress; exit 0 only if the task succeeded" };
        var command = new Command("submit", "Put a task on the queue and print its id") { script, argsOption, id, timeout, maxAttempts, responseUrl, watch };
        command.SetAction(async (parse, ct) =>
        {
            await using var cli = Cli(parse);
            try
            {
                var taskId = await cli.SubmitAsync(parse.GetValue(script)!, parse.GetValue(argsOption), parse.GetValue(id), parse.GetValue(timeout),
                    parse.GetValue(maxAttempts), parse.GetValue(responseUrl), ct);
                Console.WriteLine(taskId);
                if (!parse.GetValue(watch)) return 0;
                return await cli.WatchAsync(taskId, Console.Out, ct) ? 0 : 1;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"hive submit: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static Command StatusCommand()
    {
        var id = new Argument<string>("id") { Description = "Task id" };
        var command = new Command("status", "Print a task's status as JSON") { id };
        command.SetAction(async (parse, ct) =>
        {
            await using var cli = Cli(parse);
            var json = await cli.StatusJsonAsync(parse.GetValue(id)!);
            if (json is null)
            {
                Console.Error.WriteLine($"hive status: no task {parse.GetValue(id)} is known (or its status expired)");
                return 3;
            }
            Console.WriteLine(json);
            return 0;
        });
        return command;
    }

    private static Command NodesCommand()
    {
        var json = new Option<bool>("--json") { Description = "Print JSON" };
        var command = new Command("nodes", "List the nodes (admission gate, CPU, memory) and their guides (busy/free, task, pid, heartbeat)") { json };
        command.SetAction(async (parse, ct) =>
        {
            await using var cli = Cli(parse);
            var nodes = await cli.NodesAsync();
            if (parse.GetValue(json))
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(nodes.Select(n => new
                {
                    node = n.Node, admission = n.Admission, info = n.Info, guides = n.Guides.Select(g => new { guide = g.Guide, status = g.Status }),
                })));
                return 0;
            }
            foreach (var view in nodes)
            {
                var guides = view.Guides;
                var busy = guides.Count(g => g.Status.TryGetProperty("taskId", out var t) && t.ValueKind == System.Text.Json.JsonValueKind.String);
                string Percent(string name) => view.Info is { ValueKind: System.Text.Json.JsonValueKind.Object } i && i.TryGetProperty(name, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.Number
                    ? $"{v.GetDouble():0.#}%" : "-";
                Console.WriteLine($"{view.Node}: {guides.Count} guides, {busy} busy, admission {view.Admission} (cpu {Percent("cpuPercent")}, memory {Percent("memoryPercent")})");
                if (view.Scripts.Count > 0)
                    Console.WriteLine($"  scripts: {string.Join(", ", view.Scripts.Select(s => $"{s.Name} {s.Hash[..Math.Min(8, s.Hash.Length)]}"))}");
                foreach (var (guide, status) in guides)
                {
                    string Field(string name) => status.TryGetProperty(name, out var v) && v.ValueKind != System.Text.Json.JsonValueKind.Null ? v.ToString() : "-";
                    Console.WriteLine($"  {guide,-10} {Field("state"),-10} task={Field("taskId"),-36} pid={Field("pid"),-8} heartbeat={Field("heartbeat")}");
                }
            }
            foreach (var difference in NodeView.CatalogDifferences(nodes)) Console.WriteLine($"warning: {difference}");
            if (nodes.Count == 0) Console.WriteLine("no node has reported in the last few seconds");
            return 0;
        });
        return command;
    }

    private static Command TasksCommand()
    {
        var state = new Option<string?>("--state") { Description = "Only tasks in this state (running, failed, …)" };
        var script = new Option<string?>("--script") { Description = "Only tasks of this script" };
        var limit = new Option<int>("--limit") { Description = "At most this many, newest first", DefaultValueFactory = _ => 50 };
        var json = new Option<bool>("--json") { Description = "Print one JSON status document per line" };
        var command = new Command("tasks", "List tasks across the cluster, newest first") { state, script, limit, json };
        command.SetAction(async (parse, ct) =>
        {
            await using var cli = Cli(parse);
            try
            {
                var tasks = await cli.TasksAsync(parse.GetValue(state), parse.GetValue(script), parse.GetValue(limit));
                foreach (var t in tasks)
                {
                    if (parse.GetValue(json)) Console.WriteLine(TaskStatusJson.ToJson(t));
                    else Console.WriteLine($"{t.TaskId,-36} {t.Script ?? "-",-12} {t.State.ToWire(),-10} {(t.Progress is { } p ? $"{p:0.#}%" : "-"),-6} node={t.Node ?? "-"} attempt={t.Attempt} updated={t.UpdatedAt:O}");
                }
                return 0;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"hive tasks: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static Command WatchCommand()
    {
        var id = new Argument<string?>("id") { Description = "A task id; without it, every running and paused task", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("watch", "Live progress bars in the terminal (Ctrl-C to leave)") { id };
        command.SetAction(async (parse, ct) =>
        {
            await using var cli = new HiveCli(Settings(parse));
            var taskId = parse.GetValue(id);
            var succeeded = await WatchView.RunAsync(cli, taskId, ct);
            return taskId is null || succeeded ? 0 : 1;
        });
        return command;
    }

    private static Command LogsCommand()
    {
        var id = new Argument<string>("id") { Description = "Task id" };
        var command = new Command("logs", "Print the output lines Hive kept for a task") { id };
        command.SetAction(async (parse, ct) =>
        {
            await using var cli = new HiveCli(Settings(parse));
            var json = await cli.StatusJsonAsync(parse.GetValue(id)!);
            if (json is null || TaskStatusJson.FromJson(json) is not { } doc)
            {
                Console.Error.WriteLine($"hive logs: no task {parse.GetValue(id)} is known (or its status expired)");
                return 3;
            }
            foreach (var line in doc.Lines) Console.WriteLine(line);
            return 0;
        });
        return command;
    }

    private static Command DrainCommand()
    {
        var node = new Argument<string>("node") { Description = "Node name (as `hive nodes` lists it)" };
        var command = new Command("drain", "Ask a node to stop taking tasks, let running ones finish (hive.node.drain-timeout), hand back the rest and exit") { node };
        command.SetAction(async (parse, ct) =>
        {
            await using var cli = Cli(parse);
            var name = parse.GetValue(node)!;
            if ((await cli.NodesAsync()).All(n => n.Node != name))
            {
                Console.Error.WriteLine($"no node named '{name}' has reported in the last few seconds (see hive nodes); nothing sent");
                return 2;
            }
            await cli.DrainAsync(name, ct);
            Console.WriteLine($"drain sent to {parse.GetValue(node)}");
            return 0;
        });
        return command;
    }

    private static Command ControlCommandFor(ControlAction action)
    {
        var id = new Argument<string>("id") { Description = "Task id, or 'all'" };
        var name = action.ToString().ToLowerInvariant();
        var command = new Command(name, $"Send '{name}' to a task wherever it runs") { id };
        command.SetAction(async (parse, ct) =>
        {
            await using var cli = Cli(parse);
            await cli.ControlAsync(parse.GetValue(id)!, action, ct);
            Console.WriteLine($"{name} sent to {parse.GetValue(id)}");
            return 0;
        });
        return command;
    }
}
