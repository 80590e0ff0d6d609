using System.Collections.Frozen;
using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Hive.Actors.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;

namespace Hive.Node.Http.Dashboard;

/// <summary>
/// The dashboard: one HTML page, a stylesheet and an ES module, embedded in the assembly (no build step, no CDN) and
/// served at <c>/</c> and <c>/dashboard</c>, assets under <c>/dashboard/assets/</c>. The page is public; everything it
/// shows comes from <c>/api/v1</c> with the token the user types in (kept in the tab's sessionStorage).
/// </summary>
public static class DashboardEndpoints
{
    /// <summary>Where the assets are served from.</summary>
    public const string AssetsPath = "/dashboard/assets";

    private const string ResourcePrefix = "Hive.Node.Http.Dashboard.";

    /// <summary>Only this origin's script and style; no inline code, no framing, nothing sent as a referrer.</summary>
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>
    {
        [".html"] = "text/html; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".svg"] = "image/svg+xml",
    }.ToFrozenDictionary();

    /// <summary>True for the requests the API's token check lets through: GET/HEAD of the page and its assets.</summary>
    public static bool IsPublic(HttpRequest request) =>
        (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
        && (request.Path == "/" || request.Path == "/dashboard" || request.Path == "/dashboard/" || request.Path.StartsWithSegments(AssetsPath));

    /// <summary>
    /// Maps the page and its assets, and <c>POST /api/v1/auth/check</c> (204 when the request carries the token: the
    /// API's token check answers 401 before it otherwise), with which the page tells a right token from a wrong one
    /// even where reads are open.
    /// </summary>
    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder app)
    {
        var services = app.ServiceProvider;
        var assets = LoadAssets(services.GetRequiredService<HttpApiSettings>(), services.GetRequiredService<ApiToken>(),
            services.GetRequiredService<HiveSettings>());
        var page = assets["index.html"];

        app.MapGet("/", (HttpContext context) => Serve(context, page)).ExcludeFromDescription();
        app.MapGet("/dashboard", (HttpContext context) => Serve(context, page)).ExcludeFromDescription();
        app.MapGet(AssetsPath + "/{name}", (string name, HttpContext context) =>
                name != "index.html" && assets.TryGetValue(name, out var asset) ? Serve(context, asset) : Results.NotFound())
            .ExcludeFromDescription();
        app.MapPost("/api/v1/auth/check", () => Results.NoContent()).WithName("checkToken")
            .WithSummary("204 when the request carries the node's API token, else 401 (as every write)")
            .Produces(StatusCodes.Status204NoContent).Produces<Hive.Client.ApiError>(StatusCodes.Status401Unauthorized);
        return app;
    }

    private static IResult Serve(HttpContext context, Asset asset)
    {
        var headers = context.Response.Headers;
        headers.ETag = asset.ETag;
        headers.CacheControl = "no-cache"; // revalidate: a node upgraded in place serves its new page at once
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        if (asset.IsPage)
        {
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XFrameOptions = "DENY";
        }
        if (context.Request.Headers.IfNoneMatch.Any(tag => tag == asset.ETag || tag == "*"))
            return Results.StatusCode(StatusCodes.Status304NotModified);
        return Results.Bytes(asset.Body, asset.ContentType);
    }

    /// <summary>
    /// Reads the embedded assets once. The page gets this node's name, whether reads are open and where the token is
    /// (the file of a generated token, or the setting of a configured one), HTML-encoded into its meta tags.
    /// </summary>
    private static FrozenDictionary<string, Asset> LoadAssets(HttpApiSettings http, ApiToken token, HiveSettings hive)
    {
        var assembly = typeof(DashboardEndpoints).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            var name = resource[ResourcePrefix.Length..];
            if (!ContentTypes.TryGetValue(Path.GetExtension(name), out var contentType)) continue;
            var body = Read(assembly, resource);
            if (name == "index.html")
            {
                var hint = token.File is { } file
                    ? $"The node generated it at start: it is in {file} on the node's machine (readable by the node's user only)."
                    : $"It is the node's configured token (hive.http.token or {HttpApiSettings.TokenVariable}).";
                body = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body)
                    .Replace("{{node}}", WebUtility.HtmlEncode(hive.NodeName), StringComparison.Ordinal)
                    .Replace("{{readsOpen}}", http.IsLoopbackOnly ? "true" : "false", StringComparison.Ordinal)
                    .Replace("{{tokenHint}}", WebUtility.HtmlEncode(hint), StringComparison.Ordinal));
            }
            assets[name] = new Asset(body, contentType, $"\"{Convert.ToHexStringLower(SHA256.HashData(body))[..16]}\"", name == "index.html");
        }
        if (!assets.ContainsKey("index.html"))
            throw new InvalidOperationException($"the dashboard's index.html is not embedded in {assembly.GetName().Name} (resource {ResourcePrefix}index.html)");
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static byte[] Read(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private sealed record Asset(byte[] Body, string ContentType, string ETag, bool IsPage);
}
