using Hive.Streams.Amqp;
using Xunit;

namespace Hive.Tests.Amqp;

public sealed class AmqpConnectionSettingsSpecs
{
    [Fact]
    public void ToString_never_shows_the_password()
    {
        var settings = AmqpConnectionSettings.Create("amqp://hive:s3cr3t@broker.example:5672/prod");

        var text = settings.ToString();

        Assert.DoesNotContain("s3cr3t", text);
        Assert.Contains("amqp://hive:***@broker.example:5672/prod", text);
        Assert.DoesNotContain("s3cr3t", NamedQueueSourceSettings.Create(new AmqpConnectionProvider(settings), "q").ToString());
    }

    [Fact]
    public void Defaults_recover_connection_and_topology_and_copies_leave_the_original_unchanged()
    {
        var settings = AmqpConnectionSettings.Create("amqp://guest:guest@localhost/");
        var tuned = settings.WithNetworkRecoveryInterval(TimeSpan.FromSeconds(1)).WithClientProvidedName("node-a");

        Assert.True(settings.AutomaticRecoveryEnabled);
        Assert.True(settings.TopologyRecoveryEnabled);
        Assert.Equal(TimeSpan.FromSeconds(5), settings.NetworkRecoveryInterval);
        Assert.Equal(TimeSpan.FromSeconds(1), tuned.NetworkRecoveryInterval);
        Assert.Equal("node-a", tuned.ClientProvidedName);
        Assert.Equal("hive", settings.ClientProvidedName);
    }

    [Fact]
    public void Bad_uris_and_values_are_refused_with_a_clear_error_without_echoing_the_password()
    {
        var error = Assert.Throws<ArgumentException>(() => AmqpConnectionSettings.Create("http://u:topsecret@host/"));
        Assert.DoesNotContain("topsecret", error.Message);
        Assert.Throws<ArgumentException>(() => AmqpConnectionSettings.Create("not a uri"));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            AmqpConnectionSettings.Create("amqp://localhost/").WithNetworkRecoveryInterval(TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new AmqpSourceStage(NamedQueueSourceSettings.Create(new AmqpConnectionProvider(AmqpConnectionSettings.Create("amqp://localhost/")), "q"), 0));
    }
}
