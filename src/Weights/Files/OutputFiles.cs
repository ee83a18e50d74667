using System.Runtime.InteropServices;

namespace IlgpuStyle.Weights.Files;

/// <summary>An output path that cannot be used; the message is one line that says why and what to do.</summary>
public sealed class OutputPathException(string message) : Exception(message);

/// <summary>
/// The checks on every file the program writes (the console's image, report and snapshots; the converter's
/// weights), made before anything long starts: a run must never end, after an hour, unable to save its result,
/// and it must never replace one of its own inputs, another output, or anything that is not a plain file.
/// Every writer then writes to <see cref="FileIdentity.OutputPath"/>, atomically (a temporary file renamed).
/// </summary>
public static class OutputFiles
{
    /// <summary>
    /// Throws an <see cref="OutputPathException"/> unless each of <paramref name="outputs"/> (role, path)
    /// can be created or replaced as a regular file in an existing folder, none is the same file as
    /// another output or as any of <paramref name="inputs"/> (role, path).
    /// </summary>
    public static void Check(
        IReadOnlyList<(string Role, string Path)> outputs, IReadOnlyList<(string Role, string Path)> inputs)
    {
        foreach (var (role, path) in outputs) CheckTarget(role, path);
        for (int i = 0; i < outputs.Count; i++)
        {
            foreach (var input in inputs)
            {
                if (FileIdentity.Same(outputs[i].Path, input.Path))
                {
                    throw new OutputPathException($"The {outputs[i].Role} '{outputs[i].Path}' is the {input.Role}: " +
                                                  "the run would overwrite one of its inputs. Choose another path.");
                }
            }
            for (int j = 0; j < i; j++)
            {
                if (FileIdentity.Same(outputs[i].Path, outputs[j].Path))
                {
                    throw new OutputPathException($"The {outputs[i].Role} and the {outputs[j].Role} are the same " +
                                                  $"file, '{outputs[i].Path}'. Give them different paths.");
                }
            }
        }
        // Last, once every path is known to be allowed: a probe is a write, and a refused output's folder (an
        // input's, say) is left as it was.
        var probed = new HashSet<string>();
        foreach (var (role, path) in outputs)
        {
            string folder = Path.GetDirectoryName(FileIdentity.OutputPath(path))!;
            if (probed.Add(folder)) ProbeFolder(role, folder);
        }
    }

    /// <summary>
    /// One output: its folder exists and is a folder, and the path itself is new or a regular file
    /// (not a folder, a device such as /dev/null, a pipe, or a symbolic link, which replacing would
    /// turn into a plain file or leave the link's target untouched).
    /// </summary>
    private static void CheckTarget(string role, string path)
    {
        string full = FileIdentity.OutputPath(path);
        if (Directory.Exists(full))
            throw new OutputPathException($"The {role} '{path}' is an existing folder. Give a file name inside it.");
        string folder = Path.GetDirectoryName(full)!;
        if (File.Exists(folder))
        {
            throw new OutputPathException(
                $"The folder of the {role}, '{folder}', is a file, not a folder. Choose another path.");
        }
        if (!Directory.Exists(folder))
        {
            throw new OutputPathException(
                $"The folder of the {role}, '{folder}', does not exist. Create it or choose another path.");
        }
        var file = new FileInfo(full);
        if (file.LinkTarget is { } target)
        {
            throw new OutputPathException($"The {role} '{path}' is a symbolic link to '{target}'; it is not " +
                                          "replaced through a link. Give the target's own path, or another path.");
        }
        if (file.Exists && !IsRegularFile(full))
        {
            throw new OutputPathException($"The {role} '{path}' exists and is not a regular file (a device, a pipe " +
                                          "or a socket); only regular files are replaced. Choose another path.");
        }
    }

    /// <summary>Writes and deletes an empty file in the folder: a read-only folder fails now, not at the end.</summary>
    private static void ProbeFolder(string role, string folder)
    {
        string probe = Path.Combine(folder, $".ilgpu-style-probe-{Environment.ProcessId}");
        try
        {
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputPathException($"Cannot write the {role} into '{folder}': {e.Message}");
        }
    }

    /// <summary>
    /// Whether an existing path is a regular file. .NET has no public API for the file type on Unix
    /// (a device reads as a normal file), so this asks the runtime's own native shim for lstat's mode
    /// bits: its FileStatus struct is the same on every Unix (Flags, then Mode), independent of the
    /// C library's stat layout. Windows has no device files at ordinary paths.
    /// </summary>
    private static bool IsRegularFile(string path)
    {
        if (OperatingSystem.IsWindows()) return true;
        const int TypeMask = 0xF000, Regular = 0x8000; // S_IFMT, S_IFREG as the shim reports them
        try
        {
            if (LStat(path, out var status) != 0) return true; // vanished meanwhile: nothing to protect
            return (status.Mode & TypeMask) == Regular;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return true;
        }
    }

    /// <summary>The start of the shim's FileStatus; the size leaves room for the fields after Mode.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 512)]
    private struct FileStatus
    {
        public int Flags;
        public int Mode;
    }

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_LStat", CharSet = CharSet.Ansi)]
    private static extern int LStat(string path, out FileStatus status);
}
