using IlgpuStyle.Weights.Files;

namespace IlgpuStyle.Host;

/// <summary>
/// The files a run reads and the files it writes (the image, the report, every snapshot), and their check before
/// anything long starts (<see cref="OutputFiles.Check"/>: no output is an input or another output, under any
/// spelling, and each can be written as a regular file).
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
        if (o.HtmlReport is not null) outputs.Add(("HTML report", o.HtmlReport));
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

    /// <summary>Checks every file the run will write against each other and every file it reads.</summary>
    /// <exception cref="OutputPathException">One that cannot be written, or would replace an input.</exception>
    public static void Check(RunOptions o, string weightsPath) => OutputFiles.Check(Written(o), Read(o, weightsPath));
}
