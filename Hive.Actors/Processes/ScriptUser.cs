using System.Globalization;
using System.Runtime.InteropServices;

namespace Hive.Actors.Processes;

/// <summary>
/// The account scripts run as (<c>hive.tasks.run-as-user</c>), looked up once in the user database (NSS, so LDAP
/// users work too). A root node starts each script through util-linux <c>setpriv --reuid --regid --init-groups</c>
/// and hands the run's working folder to this user.
/// </summary>
public sealed record ScriptUser(string Name, int Uid, int Gid)
{
    /// <summary>
    /// The user named by <paramref name="nameOrUid"/> (a login name or a numeric uid); null when it is empty or is the
    /// node's own user (nothing to switch). Throws <see cref="InvalidOperationException"/> with the reason when the user
    /// does not exist, or when the node would have to switch to another user without running as root.
    /// </summary>
    public static ScriptUser? Resolve(string? nameOrUid)
    {
        var wanted = nameOrUid?.Trim() ?? "";
        if (wanted.Length == 0) return null;
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("hive.tasks.run-as-user works on Linux only");
        var entry = uint.TryParse(wanted, NumberStyles.None, CultureInfo.InvariantCulture, out var uid) ? GetPwUid(uid) : GetPwNam(wanted);
        if (entry == IntPtr.Zero)
            throw new InvalidOperationException($"hive.tasks.run-as-user = \"{wanted}\": no such user on this machine");
        var pw = Marshal.PtrToStructure<Passwd>(entry);
        var user = new ScriptUser(Marshal.PtrToStringUTF8(pw.Name) ?? wanted, checked((int)pw.Uid), checked((int)pw.Gid));
        var self = GetEUid();
        if (user.Uid == self) return null;
        if (self != 0)
            throw new InvalidOperationException(
                $"hive.tasks.run-as-user = \"{wanted}\" needs the node to run as root (it runs as uid {self}); leave it empty to run scripts as the node's user");
        return user;
    }

    public override string ToString() => $"{Name} (uid {Uid}, gid {Gid})";

    /// <summary>The arguments that make util-linux <c>setpriv</c> exec the program as this user, its group and its supplementary groups.</summary>
    internal IEnumerable<string> SetprivArguments() =>
    [
        $"--reuid={Uid.ToString(CultureInfo.InvariantCulture)}",
        $"--regid={Gid.ToString(CultureInfo.InvariantCulture)}",
        "--init-groups",
        "--",
    ];

    /// <summary>Gives <paramref name="path"/> to this user and its group (<c>chown(2)</c>); returns 0 or the errno.</summary>
    internal int Own(string path) => SysChown(path, (uint)Uid, (uint)Gid) == 0 ? 0 : Marshal.GetLastPInvokeError();

    [StructLayout(LayoutKind.Sequential)]
    private struct Passwd
    {
        public IntPtr Name;
        public IntPtr Password;
        public uint Uid;
        public uint Gid;
        public IntPtr Gecos;
        public IntPtr Dir;
        public IntPtr Shell;
    }

    // getpwnam/getpwuid return static storage: called once, at the node's start.
    [DllImport("libc", EntryPoint = "getpwnam", SetLastError = true)]
    private static extern IntPtr GetPwNam([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [DllImport("libc", EntryPoint = "getpwuid", SetLastError = true)]
    private static extern IntPtr GetPwUid(uint uid);

    [DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEUid();

    [DllImport("libc", EntryPoint = "chown", SetLastError = true)]
    private static extern int SysChown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint owner, uint group);
}
