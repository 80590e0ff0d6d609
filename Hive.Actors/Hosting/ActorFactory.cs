using Akka.Actor;

namespace Hive.Actors.Hosting;

/// <summary>
/// Props from a plain constructor call. Akka's <c>Props.Create(() =&gt; new X(a, b))</c> evaluates each constructor argument
/// by compiling it into a dynamic method every time the Props are made — one JIT per argument per actor, which on the claim
/// path (one task entity per task) cost more CPU than the entity's own work, and left the dynamic methods to the finalizer.
/// Not for remote deployment (a delegate cannot be serialized); Hive deploys every actor locally.
/// </summary>
public static class ActorFactory
{
    public static Props Props<TActor>(Func<TActor> create) where TActor : ActorBase =>
        Akka.Actor.Props.CreateBy(new Producer<TActor>(create));

    private sealed class Producer<TActor>(Func<TActor> create) : IIndirectActorProducer where TActor : ActorBase
    {
        public Type ActorType => typeof(TActor);

        public ActorBase Produce() => create();

        public void Release(ActorBase actor)
        {
        }
    }
}
