using Hive.Tests.Infrastructure;
using Hive.Tests.Integration;
using Microsoft.Playwright;
using Xunit;

namespace Hive.Tests.Dashboard;

/// <summary>
/// Brokers, one real node serving the dashboard on a free port (on loopback with a generated token in a temporary token
/// file, unless a subclass configures a token and every interface),
/// and Debian's Chromium driven headless by Playwright. Chromium must be at <see cref="ChromiumPath"/>
/// (<c>deploy/install-test-deps.sh</c> installs it); without it the specs fail, they do not skip.
/// </summary>
public class DashboardFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private readonly string _folder = Directory.CreateTempSubdirectory("hive-dashboard-").FullName;
    private readonly string? _configuredToken;

    public DashboardFixture() : this(null)
    {
    }

    /// <param name="configuredToken">
    /// Null: the node listens on 127.0.0.1 and generates its token. Else the node listens on every interface with this
    /// token, so reads need it too.
    /// </param>
    protected DashboardFixture(string? configuredToken) => _configuredToken = configuredToken;

    public BrokersFixture Brokers { get; } = new();
    public HiveNodeProcess Node { get; private set; } = null!;
    public string TokenFile => Path.Combine(_folder, "api-token");
    public string Token { get; private set; } = "";
    public Uri BaseAddress => new($"http://127.0.0.1:{Node.HttpPort}/");
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException(
                $"the dashboard specs drive Debian's Chromium at {ChromiumPath}, which is not installed: run deploy/install-test-deps.sh (apt-get install chromium)");
        var browser = StartBrowserAsync();
        await Brokers.InitializeAsync();
        var http = _configuredToken is null
            ? $"hive.http.token-file = \"{TokenFile}\""
            : $"hive.http.bind = \"0.0.0.0\"\nhive.http.token = \"{_configuredToken}\"";
        Node = await HiveNodeProcess.StartAsync(Brokers, guides: 3, httpPort: FreePort.Next(),
            extraHocon: $"{http}\nhive.redis.progress-interval = 100ms\nhive.node.heartbeat-interval = 500ms");
        Token = _configuredToken ?? (await File.ReadAllTextAsync(TokenFile)).Trim();
        await browser;
    }

    private async Task StartBrowserAsync()
    {
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Timeout = 60_000,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
        });
    }

    /// <summary>A fresh browser context (its own sessionStorage) with the dashboard open.</summary>
    public async Task<IPage> OpenDashboardAsync(int width = 1440, int height = 900)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = width, Height = height },
            ColorScheme = ColorScheme.Light,
            Locale = "en-GB",
            TimezoneId = "UTC",
        });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(15_000);
        await page.GotoAsync("/");
        return page;
    }

    public async ValueTask DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        Playwright?.Dispose();
        if (Node is not null) await Node.DisposeAsync();
        await Brokers.DisposeAsync();
        try { Directory.Delete(_folder, true); } catch (IOException) { }
    }
}
