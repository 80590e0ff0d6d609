using System.Diagnostics;

namespace Hive.Tests.Infrastructure;

/// <summary>Installs the broker packages through deploy/install-deps.sh when their binaries are missing.</summary>
public static class DebianPackages
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static async Task EnsureAsync(string binary)
    {
        if (File.Exists(binary)) return;
        await Gate.WaitAsync();
        try
        {
            if (File.Exists(binary)) return;
            var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(Path.Combine(RepoPaths.Deploy, "install-deps.sh"));
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            if (p.ExitCode != 0 || !File.Exists(binary))
                throw new InvalidOperationException($"deploy/install-deps.sh failed ({p.ExitCode}) and {binary} is missing: {await error}{await output}");
        }
        finally
        {
            Gate.Release();
        }
    }
}
