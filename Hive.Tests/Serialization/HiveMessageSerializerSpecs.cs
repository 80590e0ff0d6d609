using System.Collections;
using System.Runtime.Serialization;
using System.Text.Json;
using Akka.Serialization;
using Hive.Actors.Contracts;
using Hive.Actors.Entities;
using Hive.Actors.Serialization;
using Hive.Tests.Entities;
using Xunit;
using static Hive.Actors.Entities.TaskEntityCommands;
using static Hive.Actors.Entities.TaskEntityEvents;
using static Hive.Actors.Entities.TaskEntityReplies;
using static Hive.Tests.Entities.EntitySamples;

namespace Hive.Tests.Serialization;

/// <summary>
/// Every IHiveMessage crosses the network or is persisted forever: each type has a sample that round-trips through
/// Akka's Serialization extension with the Hive serializer (id 1742) and a pinned manifest.
/// </summary>
public sealed class HiveMessageSerializerSpecs : Akka.TestKit.Xunit.TestKit
{
    private const string Id = "ser-1";
    private static readonly TaskSpec SampleSpec = Spec(Id, maxAttempts: 4, responseUrl: "http://backend.local/done?token=s3cret", acceptUrl: "http://backend.local/accepted", replyTo: "amq.rabbitmq.reply-to");
    private static readonly TaskResult SampleResult = Result(Id, TaskState.Failed, 2, 4);

    /// <summary>One sample per IHiveMessage type and the manifest it must keep (persisted events are read back by it).</summary>
    private static readonly (object Sample, string Manifest)[] Samples =
    [
        (TaskEntityState.Empty(Id).Apply(new Claimed(SampleSpec, OwnerA, 1, 1, T0, T0))
            .Apply(new RetryScheduled(SampleResult, T0.AddSeconds(4))).Apply(new Cancelled("ops", T0)),
            "Entities.TaskEntityState"),
        (new Claim(Id, SampleSpec, OwnerA, T0), "Entities.TaskEntityCommands+Claim"),
        (new ReportEnd(Id, 3, SampleResult, EndKind.Retryable), "Entities.TaskEntityCommands+ReportEnd"),
        (new Cancel(Id, "backend"), "Entities.TaskEntityCommands+Cancel"),
        (new Release(Id, OwnerA.MemberUid, "member removed"), "Entities.TaskEntityCommands+Release"),
        (new Wake(Id), "Entities.TaskEntityCommands+Wake"),
        (new GetState(Id), "Entities.TaskEntityCommands+GetState"),
        (new Renew(Id, OwnerA, 3), "Entities.TaskEntityCommands+Renew"),
        (new ClaimGranted(Id, 2, 7), "Entities.TaskEntityReplies+ClaimGranted"),
        (new ClaimRefused(Id, "already running on node-b (a duplicate delivery)", true), "Entities.TaskEntityReplies+ClaimRefused"),
        (new EndRecorded(Id, TaskState.TimedOut, true), "Entities.TaskEntityReplies+EndRecorded"),
        (new EndRefused(Id, "stale claim"), "Entities.TaskEntityReplies+EndRefused"),
        (new LeaseHeld(Id, 3), "Entities.TaskEntityReplies+LeaseHeld"),
        (new LeaseLost(Id, 3, "claimed again (epoch 4) by node-b"), "Entities.TaskEntityReplies+LeaseLost"),
        (new StateReply(Id, "Claimed", TaskState.Succeeded, 2, 3, "node-a", false), "Entities.TaskEntityReplies+StateReply"),
        (new Claimed(SampleSpec with { Seed = new SeedOptions(true, -1), Shape = TaskShape.Seed, Command = "echo hi", Script = null }, OwnerB, 2, 5, T0, T0.AddMinutes(1)),
            "Entities.TaskEntityEvents+Claimed"),
        (new RetryScheduled(SampleResult, T0.AddSeconds(8)), "Entities.TaskEntityEvents+RetryScheduled"),
        (new Requeued("handed back by a draining node", true, T0), "Entities.TaskEntityEvents+Requeued"),
        (new RequeuePublished(), "Entities.TaskEntityEvents+RequeuePublished"),
        (new Cancelled("backend", T0), "Entities.TaskEntityEvents+Cancelled"),
        (new Finished(SampleResult with { Result = null, RunLines = null, Signal = 9 }, SampleSpec), "Entities.TaskEntityEvents+Finished"),
        (new ResultDelivered(), "Entities.TaskEntityEvents+ResultDelivered"),
    ];

    public HiveMessageSerializerSpecs(ITestOutputHelper output) : base(HiveSerializationHocon.WithVerification(), "serializer-spec", output) { }

    public static TheoryData<string> SampleTypes() => new(Samples.Select(s => s.Sample.GetType().FullName!));

    [Fact]
    public void Every_hive_message_type_has_a_round_trip_sample()
    {
        var messageTypes = typeof(IHiveMessage).Assembly.GetTypes()
            .Where(t => typeof(IHiveMessage).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => t.FullName!)
            .ToHashSet();
        var sampled = Samples.Select(s => s.Sample.GetType().FullName!).ToHashSet();

        var missing = messageTypes.Except(sampled).Order().ToArray();
        Assert.True(missing.Length == 0, $"IHiveMessage types without a sample in {nameof(HiveMessageSerializerSpecs)}.{nameof(Samples)}: {string.Join(", ", missing)}");
        Assert.Equal(Samples.Length, sampled.Count);
        Assert.Equal(22, messageTypes.Count);
    }

    [Theory]
    [MemberData(nameof(SampleTypes))]
    public void Each_hive_message_round_trips_through_the_hive_serializer_with_its_pinned_manifest(string typeName)
    {
        var (sample, expectedManifest) = Samples.Single(s => s.Sample.GetType().FullName == typeName);

        var serializer = Sys.Serialization.FindSerializerFor(sample);
        var hive = Assert.IsType<HiveMessageSerializer>(serializer);
        Assert.Equal(HiveMessageSerializer.Id, hive.Identifier);
        Assert.Equal(1742, hive.Identifier);

        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, sample);
        Assert.Equal(expectedManifest, manifest);

        var bytes = serializer.ToBinary(sample);
        var back = Sys.Serialization.Deserialize(bytes, HiveMessageSerializer.Id, manifest);

        Assert.IsType(sample.GetType(), back);
        AssertStructurallyEqual(sample, back, sample.GetType().Name);
        Assert.Equal(JsonText(serializer.ToBinary(sample)), JsonText(serializer.ToBinary(back)));
    }

    [Fact]
    public void Json_arguments_results_and_output_lines_survive_a_round_trip_of_a_persisted_state()
    {
        var state = (TaskEntityState)Samples[0].Sample;
        var serializer = Sys.Serialization.FindSerializerFor(state);
        var back = (TaskEntityState)Sys.Serialization.Deserialize(serializer.ToBinary(state), HiveMessageSerializer.Id, "Entities.TaskEntityState");

        Assert.Equal("""{"n":1,"tags":["a","b"]}""", JsonSerializer.Serialize(back.Spec!.Args));
        Assert.Equal("""{"ok":true}""", JsonSerializer.Serialize(back.LastResult!.Result));
        Assert.Equal(["last line"], back.LastResult.Lines);
        Assert.Equal("last line", Assert.Single(Assert.Single(back.LastResult.RunLines!)));
        Assert.Equal(TaskPhase.RetryScheduled, back.Phase);
        Assert.True(back.Cancelled);
        Assert.Equal(T0.AddSeconds(4), back.DueAt);
        Assert.Equal(SampleSpec.ResponseUrl, back.Spec.ResponseUrl);
    }

    [Fact]
    public void A_finished_event_persisted_before_it_could_carry_a_spec_is_still_read()
    {
        var serializer = Sys.Serialization.FindSerializerForType(typeof(Finished));
        var current = serializer.ToBinary(new Finished(SampleResult));
        using var json = JsonDocument.Parse(current);
        var withoutSpec = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, JsonElement> { ["result"] = json.RootElement.GetProperty("result") });

        var back = Assert.IsType<Finished>(Sys.Serialization.Deserialize(withoutSpec, HiveMessageSerializer.Id, "Entities.TaskEntityEvents+Finished"));

        Assert.Null(back.Spec);
        Assert.Equal(SampleResult.Reason, back.Result.Reason);
        Assert.Equal(SampleResult.Attempt, back.Result.Attempt);
    }

    [Fact]
    public void An_unknown_manifest_fails_with_a_serialization_exception_naming_it()
    {
        var ex = Assert.Throws<SerializationException>(() =>
            Sys.Serialization.Deserialize("{}"u8.ToArray(), HiveMessageSerializer.Id, "Entities.TaskEntityEvents+FromTheFuture"));

        Assert.Contains("Entities.TaskEntityEvents+FromTheFuture", ex.Message);
    }

    [Fact]
    public void An_object_that_is_not_a_hive_message_has_no_hive_manifest()
    {
        var hive = Assert.IsType<HiveMessageSerializer>(Sys.Serialization.FindSerializerForType(typeof(TaskEntityCommands.Wake)));

        Assert.IsNotType<HiveMessageSerializer>(Sys.Serialization.FindSerializerFor("just a string"));
        Assert.Throws<ArgumentException>(() => hive.Manifest(new Uri("http://example.com")));
    }

    private static string JsonText(byte[] utf8) => JsonSerializer.Serialize(JsonDocument.Parse(utf8).RootElement);

    /// <summary>Property-by-property equality that looks inside JSON values and lists (record equality compares them by reference).</summary>
    private static void AssertStructurallyEqual(object? expected, object? actual, string path)
    {
        switch (expected)
        {
            case null:
                Assert.True(actual is null, $"{path}: expected null, got {actual}");
                return;
            case JsonElement json:
                Assert.Equal(JsonSerializer.Serialize(json), JsonSerializer.Serialize(Assert.IsType<JsonElement>(actual)));
                return;
            case string or DateTimeOffset or Enum or bool or int or long or double:
                Assert.True(Equals(expected, actual), $"{path}: expected {expected}, got {actual}");
                return;
            case IEnumerable items:
                var left = items.Cast<object?>().ToArray();
                var right = Assert.IsAssignableFrom<IEnumerable>(actual).Cast<object?>().ToArray();
                Assert.True(left.Length == right.Length, $"{path}: expected {left.Length} items, got {right.Length}");
                for (var i = 0; i < left.Length; i++) AssertStructurallyEqual(left[i], right[i], $"{path}[{i}]");
                return;
        }

        Assert.NotNull(actual);
        Assert.Equal(expected.GetType(), actual.GetType());
        var properties = expected.GetType().GetProperties().Where(p => p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract").ToArray();
        Assert.True(properties.Length > 0 || expected.GetType().GetFields().Length == 0, $"{path}: nothing to compare");
        foreach (var property in properties)
            AssertStructurallyEqual(property.GetValue(expected), property.GetValue(actual), $"{path}.{property.Name}");
    }
}
