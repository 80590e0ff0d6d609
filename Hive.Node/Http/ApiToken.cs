using System.Security.Cryptography;
using System.Text;

namespace Hive.Node.Http;

/// <summary>
/// The bearer token of the node's API. Configured (<c>hive.http.token</c> / <c>HIVE_API_TOKEN</c>), or generated at start
/// and written to <see cref="HttpApiSettings.TokenFile"/> readable by this user only (mode 0600), as Jupyter does, so
/// the CLI and the dashboard can pick it up. Compared in constant time; never logged, never in <see cref="ToString"/>.
/// </summary>
public sealed class ApiToken
{
    private readonly byte[] _token;

    private ApiToken(string token, bool generated, string? file)
    {
        _token = Encoding.UTF8.GetBytes(token);
        Generated = generated;
        File = file;
    }

    /// <summary>True when the node made this token up at start (no token was configured).</summary>
    public bool Generated { get; }

    /// <summary>The file the generated token was written to; null for a configured token.</summary>
    public string? File { get; }

    /// <summary>
    /// The configured token, or a new random one written to the token file. Refuses (throws) when the API would listen
    /// beyond loopback with only a generated token: a token nobody configured cannot be handed to remote clients safely.
    /// </summary>
    public static ApiToken Resolve(HttpApiSettings settings)
    {
        if (settings.ConfiguredToken.Length > 0)
        {
            if (settings.ConfiguredToken.Length < 16)
                throw new InvalidOperationException("hive.http.token (or HIVE_API_TOKEN) is shorter than 16 characters; use a long random token, e.g. `openssl rand -hex 32`");
            return new ApiToken(settings.ConfiguredToken, generated: false, file: null);
        }
        if (!settings.IsLoopbackOnly)
            throw new InvalidOperationException(
                $"hive.http.bind = \"{settings.Bind}\" exposes the API beyond this machine, but no token is configured: set hive.http.token or HIVE_API_TOKEN " +
                "(e.g. `export HIVE_API_TOKEN=$(openssl rand -hex 32)`), or bind to 127.0.0.1");
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        WriteOwnerOnly(settings.TokenFile, token);
        return new ApiToken(token, generated: true, file: settings.TokenFile);
    }

    /// <summary>True when <paramref name="presented"/> is the token (constant time in the token's length).</summary>
    public bool Matches(ReadOnlySpan<char> presented)
    {
        if (presented.IsEmpty || presented.Length > 1024) return false;
        Span<byte> bytes = stackalloc byte[Encoding.UTF8.GetMaxByteCount(presented.Length)];
        var n = Encoding.UTF8.GetBytes(presented, bytes);
        return CryptographicOperations.FixedTimeEquals(bytes[..n], _token);
    }

    /// <summary>True when the Authorization header is <c>Bearer &lt;token&gt;</c>.</summary>
    public bool MatchesHeader(string? authorization) =>
        authorization is not null
        && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
        && Matches(authorization.AsSpan(7).Trim());

    /// <summary>Reads a token file written by a node (for the CLI); null when there is none.</summary>
    public static string? ReadFile(string path)
    {
        try
        {
            var text = System.IO.File.ReadAllText(path).Trim();
            return text.Length > 0 ? text : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Writes through a fresh 0600 file renamed into place, so the token is never readable by others, even briefly.</summary>
    private static void WriteOwnerOnly(string path, string token)
    {
        var folder = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(folder);
        var temp = Path.Combine(folder, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream))
            writer.WriteLine(token);
        // FileMode.Create keeps the mode of a file that already existed: set it explicitly before it becomes visible.
        if (!OperatingSystem.IsWindows()) System.IO.File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        System.IO.File.Move(temp, path, overwrite: true);
    }

    public override string ToString() => Generated ? $"ApiToken(generated, file={File})" : "ApiToken(configured)";
}
