using Akka.Actor;
using Akka.Cluster;
using Hive.Streams.Amqp;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Hive.Node.Http;

/// <summary>One dependency's state for <c>/readyz</c>.</summary>
public sealed record Check(string Name, bool Up, string Detail);

/// <summary>
/// Ready = the node's RabbitMQ connection is open, Redis is connected and answers, and this node is an Up member of
/// the cluster. Each check is bounded by <see cref="CheckTimeout"/>.
/// </summary>
public sealed class Readiness(IServiceProvider services, ApiGate gate, AmqpConnectionProvider amqp, IConnectionMultiplexer redis)
{
    public static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(2);

    public async Task<IReadOnlyList<Check>> CheckAsync(CancellationToken ct)
    {
        var checks = await Task.WhenAll(RabbitAsync(ct), RedisAsync(), Task.FromResult(Cluster()));
        return checks;
    }

    private async Task<Check> RabbitAsync(CancellationToken ct)
    {
        try
        {
            var connection = await amqp.GetConnectionAsync(ct).WaitAsync(CheckTimeout, ct);
            return connection.IsOpen
                ? new Check("rabbitmq", true, "connection open")
                : new Check("rabbitmq", false, $"connection closed: {connection.CloseReason?.ReplyText ?? "recovering"}");
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return new Check("rabbitmq", false, e is TimeoutException ? $"no connection within {CheckTimeout.TotalSeconds:0} s" : e.GetBaseException().Message);
        }
    }

    private async Task<Check> RedisAsync()
    {
        if (!redis.IsConnected) return new Check("redis", false, "not connected");
        try
        {
            var latency = await redis.GetDatabase().PingAsync().WaitAsync(CheckTimeout);
            return new Check("redis", true, $"ping {latency.TotalMilliseconds:0.#} ms");
        }
        catch (Exception e)
        {
            return new Check("redis", false, e is TimeoutException ? $"no answer to PING within {CheckTimeout.TotalSeconds:0} s" : e.GetBaseException().Message);
        }
    }

    private Check Cluster()
    {
        // The ActorSystem exists only once the node's hosted services have started.
        if (!gate.IsOpen) return new Check("cluster", false, "the node is starting");
        var self = Akka.Cluster.Cluster.Get(services.GetRequiredService<ActorSystem>()).SelfMember;
        return self.Status == MemberStatus.Up
            ? new Check("cluster", true, $"{self.Address} up")
            : new Check("cluster", false, $"{self.Address} is {self.Status.ToString().ToLowerInvariant()}, not up");
    }
}
