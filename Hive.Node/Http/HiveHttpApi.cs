using Akka.Actor;
using Akka.Hosting;
using Hive.Actors.Guides;
using Hive.Actors.Hosting;
using Hive.Actors.Metrics;
using Hive.Node.Http.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Hive.Node.Http;

/// <summary>
/// Hosts the node's HTTP API (Kestrel, minimal APIs) in the node's own generic host: <c>/api/v1</c>, <c>/healthz</c>,
/// <c>/readyz</c>, <c>/metrics</c> and <c>/openapi/v1.json</c>.
/// </summary>
public static class HiveHttpApi
{
    /// <summary>A host builder with Kestrel bound to <c>hive.http.bind</c>:<c>hive.http.port</c> and nothing else by default.</summary>
    public static WebApplicationBuilder CreateBuilder(HttpApiSettings settings)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(settings.BindAddress!, settings.Port);
        });
        builder.Services.AddRoutingCore();
        builder.Services.AddOpenApi("v1", options => options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Hive node API";
            document.Info.Version = "v1";
            document.Info.Description = "Submit, inspect, control and follow Hive tasks. Writes need `Authorization: Bearer <token>`; " +
                                        "reads too when the node listens beyond loopback.";
            return Task.CompletedTask;
        }));
        return builder;
    }

    /// <summary>Registers the API's services; <paramref name="token"/> is the resolved bearer token.</summary>
    public static IServiceCollection AddHiveHttpApi(this IServiceCollection services, HttpApiSettings settings, ApiToken token)
    {
        services.AddSingleton(settings);
        services.AddSingleton(token);
        services.AddSingleton<ApiGate>();
        services.AddSingleton(sp => new TaskQueries(sp.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>()));
        services.AddSingleton<TaskSubmitter>();
        services.AddSingleton<Readiness>();
        // After NodeLifecycle (topology declared): only then does the API take writes.
        services.AddHostedService(sp => sp.GetRequiredService<ApiGate>());
        return services;
    }

    /// <summary>Builds the application: auth, metrics and the endpoints.</summary>
    public static WebApplication Build(WebApplicationBuilder builder)
    {
        var app = builder.Build();
        var settings = app.Services.GetRequiredService<HttpApiSettings>();
        var token = app.Services.GetRequiredService<ApiToken>();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Hive.Node.Http");
        log.LogInformation("HTTP API on http://{Bind}:{Port}/api/v1 ({Token}); reads {Reads}",
            settings.Bind.Contains(':') ? $"[{settings.Bind}]" : settings.Bind, settings.Port,
            token.Generated ? $"token generated at start, in {token.File}" : "token configured",
            settings.IsLoopbackOnly ? "open on loopback" : "need the token");

        RegisterGuideGauges(app.Services);
        HiveMetrics.ListenToJournal();
        app.Use(RequireToken(settings, token));
        app.UseHttpMetrics();
        app.MapMetrics("/metrics");
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapHiveEndpoints();
        app.MapDashboard();
        return app;
    }

    /// <summary>
    /// Writes (anything but GET/HEAD) always need the bearer token; reads need it too unless the API listens on loopback
    /// only. <c>/healthz</c> and <c>/readyz</c> stay open for probes: they tell only up or down; so does the dashboard's page
    /// (its API calls carry the token).
    /// </summary>
    private static Func<HttpContext, RequestDelegate, Task> RequireToken(HttpApiSettings settings, ApiToken token) => (context, next) =>
    {
        var path = context.Request.Path;
        if (path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || DashboardEndpoints.IsPublic(context.Request))
            return next(context);
        var isRead = HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method);
        if ((isRead && settings.IsLoopbackOnly) || token.MatchesHeader(context.Request.Headers.Authorization)) return next(context);
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer realm=\"hive\"";
        var reason = context.Request.Headers.Authorization.Count == 0
            ? "this request needs the node's API token: send 'Authorization: Bearer <token>' (hive.http.token, HIVE_API_TOKEN, or the node's token file)"
            : "the bearer token is not this node's API token";
        return context.Response.WriteAsJsonAsync(new Hive.Client.ApiError(reason), Hive.Client.HiveJson.Options);
    };

    /// <summary>hive_guides_busy / hive_guides_free are read from the monitor just before each scrape.</summary>
    private static void RegisterGuideGauges(IServiceProvider services)
    {
        var registry = services.GetRequiredService<IActorRegistry>();
        var hive = services.GetRequiredService<Hive.Actors.Configuration.HiveSettings>();
        Prometheus.Metrics.DefaultRegistry.AddBeforeCollectCallback(async ct =>
        {
            if (!registry.TryGet<NodeMonitor>(out var monitor)) return;
            try
            {
                var guides = await monitor.Ask<GuideStatus[]>(GetGuides.Instance, TimeSpan.FromSeconds(2), ct);
                var busy = guides.Count(g => !g.IsFree);
                HiveMetrics.Guides(busy, Math.Max(0, hive.Guides - busy));
            }
            catch (Exception e) when (e is AskTimeoutException or OperationCanceledException)
            {
                // Keep the last values; the scrape must not fail because the monitor is busy.
            }
        });
    }
}

/// <summary>Closed until the node has declared its broker topology and started its actors; the API refuses writes meanwhile.</summary>
public sealed class ApiGate : IHostedService
{
    private volatile bool _open;

    public bool IsOpen => _open;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _open = true;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _open = false;
        return Task.CompletedTask;
    }
}
