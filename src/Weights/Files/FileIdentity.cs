using System.Buffers.Binary;
using System.Reflection;
using System.Runtime.InteropServices;

namespace IlgpuStyle.Weights.Files;

/// <summary>
/// Whether two paths name one file, as the operating system resolves them: every symbolic link in every part of
/// the path followed, <c>..</c> taken after the link it follows (not as text), and hard links, which are one file
/// under two names, recognised by their device and inode. The console and the converter ask this before they
/// write anything, so that no output can replace an input or another output, however the paths are spelled.
/// </summary>
public static class FileIdentity
{
    /// <summary>Symbolic links followed in one path before it counts as a loop (Linux's own limit).</summary>
    private const int MaxLinks = 40;

    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> name the same file, or, where it does not
    /// exist yet, would: the same folder and name once every link is resolved, or one file under two names.
    /// </summary>
    public static bool Same(string a, string b)
    {
        string realA = RealPath(a), realB = RealPath(b);
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS()
            ? StringComparison.OrdinalIgnoreCase
            : StringComparison.Ordinal;
        if (string.Equals(realA, realB, comparison)) return true;
        return Inode(realA) is { } first && Inode(realB) is { } second && first == second;
    }

    /// <summary>
    /// <paramref name="path"/> with every symbolic link resolved, part by part from the root, as the system
    /// resolves it when the file is opened: a relative link is read from the folder that holds it, and <c>..</c>
    /// after a linked folder goes to the parent of the link's target. Parts that do not exist yet are kept as
    /// written; a loop of links leaves the rest of the path as written.
    /// </summary>
    public static string RealPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.IsPathRooted(path) ? path : Path.Join(Environment.CurrentDirectory, path);
        string root = Path.GetPathRoot(full)!;
        var pending = new List<string>(Parts(full[root.Length..]));
        string current = root;
        int links = 0;
        while (pending.Count > 0)
        {
            string part = pending[0];
            pending.RemoveAt(0);
            if (part is "" or ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current; // the root's parent is the root
                continue;
            }
            string next = Path.Join(current, part);
            string? target = links < MaxLinks ? LinkTarget(next) : null;
            if (target is null)
            {
                current = next;
                continue;
            }
            links++;
            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target)!;
                target = target[current.Length..];
            }
            pending.InsertRange(0, Parts(target));
        }
        return current;
    }

    /// <summary>
    /// Where writing <paramref name="path"/> puts the file: its folder with every link resolved
    /// (<see cref="RealPath"/>), and its own name as given. Every writer opens this path, because .NET's file
    /// APIs fold <c>..</c> as text (<c>link/../x</c> would land beside the link, not beside its target).
    /// </summary>
    public static string OutputPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string? folder = Path.GetDirectoryName(path);
        return Path.Join(RealPath(string.IsNullOrEmpty(folder) ? "." : folder), Path.GetFileName(path));
    }

    private static string[] Parts(string path) =>
        path.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar]);

    /// <summary>What a symbolic link points to, as written in the link; null for anything else.</summary>
    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// The device and inode of an existing file (links followed), or null where the file does not exist or the
    /// system gives none. <c>stat</c> puts <c>st_ino</c> at byte 8 on Linux (x64 and arm64) and macOS alike, and
    /// <c>st_dev</c> at byte 0 (64 bits on Linux, 32 on macOS: its low 32 bits are compared).
    /// </summary>
    private static (uint Device, ulong Inode)? Inode(string path)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(path)) return null;
        var status = new byte[512]; // larger than any struct stat
        try
        {
            if (Stat(path, status) != 0) return null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null; // a C library without 'stat' (glibc before 2.33): hard links go unrecognised
        }
        return (BinaryPrimitives.ReadUInt32LittleEndian(status), BinaryPrimitives.ReadUInt64LittleEndian(status[8..]));
    }

    [DllImport(CLibrary, EntryPoint = "stat", CharSet = CharSet.Ansi)]
    private static extern int Stat(string path, byte[] status);

    private const string CLibrary = "c";

    static FileIdentity() => NativeLibrary.SetDllImportResolver(typeof(FileIdentity).Assembly, Resolve);

    /// <summary>The C library by its real file name ("libc.so" on Linux is often a linker script, not a library).
    /// </summary>
    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != CLibrary) return IntPtr.Zero;
        string library = OperatingSystem.IsMacOS() ? "/usr/lib/libSystem.dylib" : "libc.so.6";
        return NativeLibrary.TryLoad(library, out var handle) ? handle : IntPtr.Zero;
    }
}
