using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Hive.Node.Http;

/// <summary>
/// <c>hive.log.file</c>: appends one JSON line per log entry (time, level, category, message, exception) to a file,
/// beside whatever the console shows. Lines are written by one background writer, so logging never waits for the disk.
/// </summary>
public sealed class FileLoggerProvider : ILoggerProvider
{
    private readonly BlockingCollection<string> _lines = new(boundedCapacity: 10_000);
    private readonly Thread _writer;

    public FileLoggerProvider(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        _writer = new Thread(() =>
        {
            using var writer = new StreamWriter(stream);
            foreach (var line in _lines.GetConsumingEnumerable())
            {
                writer.WriteLine(line);
                if (_lines.Count == 0) writer.Flush();
            }
        }) { IsBackground = true, Name = "hive-log-file" };
        _writer.Start();
    }

    public ILogger CreateLogger(string categoryName) => new FileLogger(categoryName, this);

    private void Add(string line)
    {
        // A full queue drops the line rather than stall the node.
        if (!_lines.IsAddingCompleted) _lines.TryAdd(line);
    }

    public void Dispose()
    {
        _lines.CompleteAdding();
        _writer.Join(TimeSpan.FromSeconds(5));
    }

    private sealed class FileLogger(string category, FileLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var entry = new Dictionary<string, object?>
            {
                ["time"] = DateTimeOffset.UtcNow,
                ["level"] = logLevel.ToString(),
                ["category"] = category,
                ["message"] = formatter(state, exception),
            };
            if (state is IReadOnlyList<KeyValuePair<string, object?>> values)
                foreach (var (key, value) in values)
                    if (key != "{OriginalFormat}" && !entry.ContainsKey(key)) entry[key] = value?.ToString();
            if (exception is not null) entry["exception"] = exception.ToString();
            provider.Add(JsonSerializer.Serialize(entry));
        }
    }
}
