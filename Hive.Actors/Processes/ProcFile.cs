using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;

namespace Hive.Actors.Processes;

/// <summary>
/// Reads small <c>/proc</c> files with plain open/read/close. <see cref="File.ReadAllText(string)"/> adds an fstat, a
/// buffer and two <c>flock</c> calls per file (FileShare emulation), and a finished run reads a few of these files: with a
/// node starting hundreds of scripts a second that was a fifth of its CPU time (docs/performance.md).
/// </summary>
internal static class ProcFile
{
    private const int O_RDONLY = 0;
    private const int InitialBuffer = 1024;

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int SysOpen([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "read", SetLastError = true)]
    private static extern nint SysRead(int fd, ref byte buffer, nint count);

    /// <summary>The file's text (UTF-8), or null when it cannot be opened or read (the process is gone, or not ours).</summary>
    public static string? ReadText(string path)
    {
        if (Read(path, out var length) is not { } buffer) return null;
        try
        {
            return Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The file's bytes, or null when it cannot be opened or read.</summary>
    public static byte[]? ReadBytes(string path)
    {
        if (Read(path, out var length) is not { } buffer) return null;
        try
        {
            return buffer.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A pooled buffer holding the whole file in its first <paramref name="length"/> bytes (the caller returns it), or null.</summary>
    private static byte[]? Read(string path, out int length)
    {
        length = 0;
        var fd = SysOpen(path, O_RDONLY | Native.O_CLOEXEC);
        if (fd < 0) return null;
        var buffer = ArrayPool<byte>.Shared.Rent(InitialBuffer);
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = SysRead(fd, ref buffer[length], buffer.Length - length);
                if (read > 0) length += (int)read;
                else if (read == 0) return buffer;
                else if (Marshal.GetLastPInvokeError() != Native.EINTR) break;
            }
        }
        finally
        {
            Native.Close(fd);
        }

        ArrayPool<byte>.Shared.Return(buffer);
        return null;
    }
}
