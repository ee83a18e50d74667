using System.Runtime.InteropServices;

namespace IlgpuStyle.Host;

/// <summary>
/// The files a run reads and writes, and the checks on every file it will write (the image, the report,
/// the snapshots), made before anything long starts: a run must never end, after an hour, unable to save
/// its result, and it must never replace one of its own inputs or anything that is not a plain file.
/// </summary>
internal static class OutputPaths
{
    /// <summary>The files a run reads: none of them may be written.</summary>
    public static List<(string Role, string Path)> Read(RunOptions o, string weightsPath)
    {
        var inputs = new List<(string, string)>();
        if (o.Content is not null) inputs.Add(("content image", o.Content));
        inputs.AddRange(o.Styles.Select(s => ("style image", s)));
        if (o.InitImage is not null) inputs.Add(("init image", o.InitImage));
        inputs.AddRange(RegionMasks.Files(o));
        inputs.Add(("weights file", weightsPath));
        return inputs;
    }

    /// <summary>The files a run writes: the image, the report, and every snapshot it will save.</summary>
    public static List<(string Role, string Path)> Written(RunOptions o)
    {
        var outputs = new List<(string, string)> { ("output image", o.Output) };
        if (o.Report is not null) outputs.Add(("report", o.Report));
        if (o.SaveEvery <= 0) return outputs;
        var scales = ScaleSchedule.Of(o);
        foreach (var (scale, k) in scales.Select((s, k) => (s, k)))
        {
            int? size = o.MultiScale ? scale.Size : null;
            for (int i = o.SaveEvery; i < scale.Iterations; i += o.SaveEvery)
                outputs.Add(($"snapshot of iteration {i}", SnapshotPath(o.Output, i, size)));
            // Every scale's result but the last (the output itself) is saved too.
            if (k < scales.Count - 1)
            {
                outputs.Add(($"snapshot of iteration {scale.Iterations}",
                    SnapshotPath(o.Output, scale.Iterations, size)));
            }
        }
        return outputs;
    }

    /// <summary><c>out.png</c> at iteration 100 is saved as <c>out_100.png</c>; at the scale of longer side 256
    /// of a coarse-to-fine run, as <c>out_256_100.png</c>.</summary>
    public static string SnapshotPath(string output, int iteration, int? scaleSize = null) =>
        Path.Combine(Path.GetDirectoryName(output) ?? "",
            $"{Path.GetFileNameWithoutExtension(output)}_{(scaleSize is { } size ? $"{size}_" : "")}{iteration}" +
            Path.GetExtension(output));

    /// <summary>
    /// Throws a <see cref="UsageException"/> unless each of <paramref name="outputs"/> (role, path)
    /// can be created or replaced as a regular file in an existing folder, none is the same file as
    /// another output or as any of <paramref name="inputs"/> (role, path).
    /// </summary>
    public static void Check(
        IReadOnlyList<(string Role, string Path)> outputs, IReadOnlyList<(string Role, string Path)> inputs)
    {
        var probed = new HashSet<string>();
        foreach (var (role, path) in outputs)
        {
            CheckTarget(role, path);
            string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
            if (probed.Add(folder)) ProbeFolder(role, folder);
        }
        for (int i = 0; i < outputs.Count; i++)
        {
            foreach (var input in inputs)
            {
                if (SameFile(outputs[i].Path, input.Path))
                {
                    throw new UsageException($"The {outputs[i].Role} '{outputs[i].Path}' is the {input.Role}: " +
                                             "the run would overwrite one of its inputs. Choose another path.");
                }
            }
            for (int j = 0; j < i; j++)
            {
                if (SameFile(outputs[i].Path, outputs[j].Path))
                {
                    throw new UsageException($"The {outputs[i].Role} and the {outputs[j].Role} are the same file, " +
                                             $"'{outputs[i].Path}'. Give them different paths.");
                }
            }
        }
    }

    /// <summary>
    /// One output: its folder exists and is a folder, and the path itself is new or a regular file
    /// (not a folder, a device such as /dev/null, a pipe, or a symbolic link, which replacing would
    /// turn into a plain file or leave the link's target untouched).
    /// </summary>
    private static void CheckTarget(string role, string path)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new UsageException($"The {role} '{path}' is an existing folder. Give a file name inside it.");
        string folder = Path.GetDirectoryName(full)!;
        if (File.Exists(folder))
        {
            throw new UsageException(
                $"The folder of the {role}, '{folder}', is a file, not a folder. Choose another path.");
        }
        if (!Directory.Exists(folder))
        {
            throw new UsageException(
                $"The folder of the {role}, '{folder}', does not exist. Create it or choose another path.");
        }
        var file = new FileInfo(full);
        if (file.LinkTarget is { } target)
        {
            throw new UsageException($"The {role} '{path}' is a symbolic link to '{target}'; it is not replaced " +
                                     "through a link. Give the target's own path, or another path.");
        }
        if (file.Exists && !IsRegularFile(full))
        {
            throw new UsageException($"The {role} '{path}' exists and is not a regular file (a device, a pipe or a " +
                                     "socket); only regular files are replaced. Choose another path.");
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
            throw new UsageException($"Cannot write the {role} into '{folder}': {e.Message}");
        }
    }

    /// <summary>Whether two paths name the same file, following symbolic links.</summary>
    public static bool SameFile(string a, string b) =>
        string.Equals(Resolved(a), Resolved(b), OperatingSystem.IsWindows() || OperatingSystem.IsMacOS()
            ? StringComparison.OrdinalIgnoreCase
            : StringComparison.Ordinal);

    private static string Resolved(string path)
    {
        string full = Path.GetFullPath(path);
        try
        {
            var target = new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true);
            return target is null ? full : Path.GetFullPath(target.FullName);
        }
        catch (IOException)
        {
            return full; // a link loop or an unreadable link: compare the path as written
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
