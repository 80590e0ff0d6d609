using System.Diagnostics;
using System.Text;
using Hive.Tests.Infrastructure;

namespace Hive.Tests.Integration;

/// <summary>Runs the `hive` CLI (the built hive.dll) against the test's brokers.</summary>
public static class HiveCliRunner
{
    public static async Task<(int ExitCode, string Output)> RunAsync(BrokersFixture brokers, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "hive.dll"));
        psi.ArgumentList.Add("--rabbitmq");
        psi.ArgumentList.Add(brokers.Rabbit.Uri);
        psi.ArgumentList.Add("--redis");
        psi.ArgumentList.Add(brokers.Redis.Endpoint);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = new StringBuilder();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await p.WaitForExitAsync(cts.Token);
        output.Append(await stdout).Append(await stderr);
        return (p.ExitCode, output.ToString());
    }
}
