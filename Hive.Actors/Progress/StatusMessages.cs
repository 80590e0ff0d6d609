using Hive.Actors.Contracts;

namespace Hive.Actors.Progress;

/// <summary>The latest known status of a task; the writer keeps only the newest per task per interval.</summary>
public sealed record StatusUpdate(TaskStatusDocument Document, string? Event);
