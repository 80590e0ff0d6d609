using System.Text;
using System.Text.Json;

namespace Hive.Actors.Processes;

/// <summary>
/// The state a run's output builds: the last N lines, counters, and the latest progress/stage/result from
/// <c>##hive {json}</c> lines. Each output stream feeds it through its own <see cref="LineReader"/>, one read buffer
/// at a time; the lock is taken once per buffer, and only the lines that can still be among the last N are decoded,
/// so a script printing millions of lines costs little more than a <c>memchr</c> per line.
/// </summary>
internal sealed class OutputCollector
{
    private static ReadOnlySpan<byte> ControlPrefix => "##hive"u8;

    private const string TruncationMark = "…";

    private readonly object _gate = new();
    private readonly string[] _ring;
    private readonly int _maxLineLength;
    private readonly long _maxOutputBytes;
    private readonly int _pid;
    private int _ringStart;
    private int _ringCount;
    private long _totalLines;
    private long _bytesRead;
    private double? _progress;
    private string? _stage;
    private string? _result;
    private bool _limitExceeded;
    private bool _paused;
    private long _version;
    private long _published = -1;

    public OutputCollector(int pid, int lastLines, int maxLineLength, long maxOutputBytes)
    {
        _pid = pid;
        _ring = new string[lastLines];
        _maxLineLength = maxLineLength;
        _maxOutputBytes = maxOutputBytes;
    }

    public LineReader CreateReader() => new(this);

    /// <summary>Called after each change (output or pause), outside the collector's lock.</summary>
    public Action? Changed { get; set; }

    /// <summary>Whether something changed since the last snapshot taken by <see cref="TakeIfChanged"/>.</summary>
    public bool HasUnpublishedChange
    {
        get
        {
            lock (_gate) return _version != _published;
        }
    }

    public void SetPaused(bool paused)
    {
        lock (_gate)
        {
            if (_paused == paused) return;
            _paused = paused;
            _version++;
        }
        Changed?.Invoke();
    }

    /// <summary>The current snapshot, or null when nothing changed since the last published one.</summary>
    public ScriptSnapshot? TakeIfChanged()
    {
        lock (_gate)
        {
            if (_version == _published) return null;
            _published = _version;
            return SnapshotLocked();
        }
    }

    public ScriptSnapshot Snapshot()
    {
        lock (_gate) return SnapshotLocked();
    }

    private ScriptSnapshot SnapshotLocked()
    {
        var lines = new string[_ringCount];
        for (var i = 0; i < _ringCount; i++) lines[i] = _ring[(_ringStart + i) % _ring.Length];
        return new ScriptSnapshot(_pid, lines, _totalLines, _progress, _stage, _result, _bytesRead, _limitExceeded, _paused, _version);
    }

    private void Commit(int bytes, long lines, ReadOnlySpan<string> keep, in ControlState control)
    {
        lock (_gate)
        {
            var retain = !_limitExceeded;
            _bytesRead += bytes;
            if (_maxOutputBytes > 0 && _bytesRead > _maxOutputBytes) _limitExceeded = true;
            _totalLines += lines;
            if (retain)
            {
                foreach (var line in keep)
                {
                    if (_ring.Length == 0) break;
                    if (_ringCount < _ring.Length)
                    {
                        _ring[(_ringStart + _ringCount) % _ring.Length] = line;
                        _ringCount++;
                    }
                    else
                    {
                        _ring[_ringStart] = line;
                        _ringStart = (_ringStart + 1) % _ring.Length;
                    }
                }
            }

            if (control.HasProgress) _progress = control.Progress;
            if (control.HasStage) _stage = control.Stage;
            if (control.HasResult) _result = control.Result;
            _version++;
        }
        Changed?.Invoke();
    }

    private struct ControlState
    {
        public bool HasProgress;
        public double? Progress;
        public bool HasStage;
        public string? Stage;
        public bool HasResult;
        public string? Result;
    }

    /// <summary>A line waiting for the end of the buffer: either already text, or a slice of the current buffer.</summary>
    private readonly record struct PendingLine(string? Text, int Offset, int Length, bool Truncated);

    /// <summary>Splits one stream into lines. Not thread-safe: one per stream, fed by that stream's read loop only.</summary>
    internal sealed class LineReader
    {
        private readonly OutputCollector _owner;
        // Grows on demand up to the line limit: a node may run a thousand scripts, each with two streams.
        private byte[] _carry = [];
        private readonly PendingLine[] _pending;
        private readonly string[] _decoded;
        private int _carryLength;
        private bool _carryTruncated;
        private int _pendingStart;
        private int _pendingCount;
        private long _lines;
        private ControlState _control;

        internal LineReader(OutputCollector owner)
        {
            _owner = owner;
            _pending = new PendingLine[owner._ring.Length];
            _decoded = new string[owner._ring.Length];
        }

        /// <summary>Consumes one read buffer; complete lines are committed, a trailing partial line is carried over.</summary>
        public void Feed(ReadOnlySpan<byte> data)
        {
            var pos = 0;
            while (pos < data.Length)
            {
                var rest = data[pos..];
                var nl = rest.IndexOf((byte)'\n');
                if (nl < 0)
                {
                    AppendCarry(rest);
                    break;
                }

                if (_carryLength > 0 || _carryTruncated)
                {
                    AppendCarry(rest[..nl]);
                    OnLine(_carry.AsSpan(0, _carryLength), -1, _carryTruncated);
                    _carryLength = 0;
                    _carryTruncated = false;
                }
                else
                {
                    var line = rest[..nl];
                    var truncated = line.Length > _owner._maxLineLength;
                    OnLine(truncated ? line[.._owner._maxLineLength] : line, pos, truncated);
                }

                pos += nl + 1;
            }

            Flush(data);
        }

        /// <summary>End of stream: a last line without newline still counts.</summary>
        public void Complete()
        {
            if (_carryLength > 0 || _carryTruncated)
            {
                OnLine(_carry.AsSpan(0, _carryLength), -1, _carryTruncated);
                _carryLength = 0;
                _carryTruncated = false;
            }

            Flush(default);
        }

        private void AppendCarry(ReadOnlySpan<byte> bytes)
        {
            var needed = Math.Min(_carryLength + bytes.Length, _owner._maxLineLength);
            if (needed > _carry.Length) Array.Resize(ref _carry, Math.Min(Math.Max(needed, Math.Max(256, _carry.Length * 2)), _owner._maxLineLength));
            var room = _carry.Length - _carryLength;
            if (bytes.Length > room)
            {
                bytes = bytes[..room];
                _carryTruncated = true;
            }

            bytes.CopyTo(_carry.AsSpan(_carryLength));
            _carryLength += bytes.Length;
        }

        private void OnLine(ReadOnlySpan<byte> line, int offset, bool truncated)
        {
            if (!truncated && line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
            if (!truncated && line.StartsWith(ControlPrefix) && TryControl(line[ControlPrefix.Length..])) return;
            _lines++;
            if (offset >= 0) AddPending(new PendingLine(null, offset, line.Length, truncated));
            else if (_pending.Length > 0) AddPending(new PendingLine(Decode(line, truncated), 0, 0, false));
        }

        private void AddPending(in PendingLine line)
        {
            if (_pending.Length == 0) return;
            if (_pendingCount < _pending.Length)
            {
                _pending[(_pendingStart + _pendingCount) % _pending.Length] = line;
                _pendingCount++;
            }
            else
            {
                _pending[_pendingStart] = line;
                _pendingStart = (_pendingStart + 1) % _pending.Length;
            }
        }

        private bool TryControl(ReadOnlySpan<byte> rest)
        {
            if (rest.IsEmpty || (rest[0] != (byte)' ' && rest[0] != (byte)'\t' && rest[0] != (byte)'{')) return false;
            rest = rest.TrimStart(" \t"u8);
            if (rest.IsEmpty || rest[0] != (byte)'{') return false;
            try
            {
                using var doc = JsonDocument.Parse(rest.ToArray());
                var root = doc.RootElement;
                bool known = false, hasProgress = false, hasStage = false, hasResult = false, hasLog = false;
                double progress = 0;
                string? stage = null, log = null;
                if (root.TryGetProperty("progress", out var p))
                {
                    if (p.ValueKind != JsonValueKind.Number || !p.TryGetDouble(out progress) || !double.IsFinite(progress)) return false;
                    known = hasProgress = true;
                }

                if (root.TryGetProperty("stage", out var s))
                {
                    if (s.ValueKind is not (JsonValueKind.String or JsonValueKind.Null)) return false;
                    stage = s.GetString();
                    known = hasStage = true;
                }

                if (root.TryGetProperty("log", out var l))
                {
                    if (l.ValueKind != JsonValueKind.String) return false;
                    log = l.GetString();
                    known = hasLog = true;
                }

                string? result = null;
                if (root.TryGetProperty("result", out var r))
                {
                    result = r.GetRawText();
                    known = hasResult = true;
                }

                if (!known) return false;
                if (hasProgress)
                {
                    _control.HasProgress = true;
                    _control.Progress = Math.Clamp(progress, 0, 100);
                }

                if (hasStage)
                {
                    _control.HasStage = true;
                    _control.Stage = stage;
                }

                if (hasResult)
                {
                    _control.HasResult = true;
                    _control.Result = result;
                }

                if (hasLog)
                {
                    _lines++;
                    AddPending(new PendingLine(Truncate(log!), 0, 0, false));
                }

                return true;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                // InvalidOperationException: a "stage" or "log" string holding invalid UTF-8 cannot become a .NET string.
                // It must not escape: the read loop would stop draining the pipe, the rest of the output would be lost
                // and a script still writing would block on the full pipe.
                return false;
            }
        }

        private string Truncate(string text) =>
            text.Length <= _owner._maxLineLength ? text : text[.._owner._maxLineLength] + TruncationMark;

        private static string Decode(ReadOnlySpan<byte> line, bool truncated)
        {
            // Encoding.UTF8 replaces invalid sequences with U+FFFD: binary output never throws.
            var text = Encoding.UTF8.GetString(line);
            return truncated ? text + TruncationMark : text;
        }

        private void Flush(ReadOnlySpan<byte> data)
        {
            for (var i = 0; i < _pendingCount; i++)
            {
                var p = _pending[(_pendingStart + i) % _pending.Length];
                _decoded[i] = p.Text ?? Decode(data.Slice(p.Offset, p.Length), p.Truncated);
            }

            _owner.Commit(data.Length, _lines, _decoded.AsSpan(0, _pendingCount), _control);
            Array.Clear(_decoded, 0, _pendingCount);
            _pendingStart = _pendingCount = 0;
            _lines = 0;
            _control = default;
        }
    }
}
