namespace IlgpuStyle.Host;

/// <summary>One scale of a coarse-to-fine run: the longer side of the image there, and the
/// optimizer iterations it gets.</summary>
internal readonly record struct Scale(int Size, int Iterations);

/// <summary>
/// The scales of a run, smallest first: one scale for a plain run; <c>--min-size</c> makes a
/// geometric series down from <c>--size</c>; <c>--schedule</c> names every scale.
/// </summary>
/// <remarks>
/// A coarse scale settles the large-scale arrangement of the style cheaply (a quarter of the pixels
/// at half the size); each finer scale starts from the previous result enlarged and adds detail.
/// The geometric series is crowsonkb/style-transfer-pytorch's: sizes <c>round(N / r^k)</c> for
/// k = 0, 1, ... while at least M, duplicates (from rounding) dropped.
/// </remarks>
internal static class ScaleSchedule
{
    /// <summary>More scales than this is a ratio too close to 1, not a plan (and would take
    /// hours of a loop to enumerate in the limit).</summary>
    public const int MaxScales = 1000;

    /// <summary>
    /// The scales <paramref name="o"/> asks for: <c>--schedule</c>'s, else <c>--min-size</c>'s series,
    /// else the one scale of a plain run.
    /// </summary>
    public static IReadOnlyList<Scale> Of(RunOptions o) => o.Schedule
        ?? (o.MinSize is { } minSize
            ? Geometric(o.Size, minSize, o.ScaleRatio, o.Iterations, o.InitialIterations ?? o.Iterations)
            : Single(o.Size, o.Iterations));

    /// <summary>How many times <paramref name="ratio"/> divides <paramref name="size"/> before the sizes drop
    /// below <paramref name="minSize"/>: the number of scales less one.</summary>
    public static double Steps(int size, int minSize, double ratio) =>
        Math.Log(size / (minSize - 0.5)) / Math.Log(ratio);

    /// <summary>A plain run: one scale.</summary>
    public static IReadOnlyList<Scale> Single(int size, int iterations) => [new(size, iterations)];

    /// <summary>
    /// The sizes <c>round(size / ratio^k)</c> that are at least <paramref name="minSize"/>, smallest
    /// first; the first gets <paramref name="initialIterations"/>, each later one <paramref name="iterations"/>.
    /// </summary>
    public static IReadOnlyList<Scale> Geometric(int size, int minSize, double ratio, int iterations,
        int initialIterations)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ratio, 1); // OptionRules and the parser saw to it

        var sizes = new SortedSet<int>();
        for (int k = 0; ; k++)
        {
            int scaled = (int)Math.Round(size / Math.Pow(ratio, k));
            if (scaled < minSize) break;
            sizes.Add(scaled);
        }
        return sizes.Select((s, i) => new Scale(s, i == 0 ? initialIterations : iterations)).ToList();
    }

    /// <summary>
    /// Parses <c>--schedule</c>: comma-separated <c>SIZE:ITERATIONS</c> pairs, sizes strictly
    /// increasing (coarse to fine), e.g. <c>256:500,512:300,1024:100</c>. Blank entries are ignored.
    /// </summary>
    public static IReadOnlyList<Scale> Parse(string text)
    {
        var scales = new List<Scale>();
        var entries = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (string entry in entries)
        {
            string[] parts = entry.Split(':', StringSplitOptions.TrimEntries);
            if (parts.Length != 2)
                throw new UsageException($"--schedule entry '{entry}' is not SIZE:ITERATIONS; write e.g. {Example}.");
            int size = Number(parts[0], entry, "size");
            int iterations = Number(parts[1], entry, "iteration count");
            if (size <= 0)
                throw new UsageException($"--schedule entry '{entry}': the size must be a positive number of pixels.");
            if (iterations < 0)
                throw new UsageException($"--schedule entry '{entry}': the iteration count must not be negative.");
            if (scales.Count > 0 && size <= scales[^1].Size)
            {
                throw new UsageException("--schedule must go from coarse to fine, each size larger than the one " +
                                         $"before: {size} comes after {scales[^1].Size}.");
            }
            scales.Add(new Scale(size, iterations));
        }
        if (scales.Count == 0)
            throw new UsageException($"--schedule names no scale; write SIZE:ITERATIONS pairs, e.g. {Example}.");
        return scales;
    }

    private static int Number(string text, string entry, string what) => NumberOptions.TryWhole(text, out int value)
        ? value
        : throw new UsageException($"--schedule entry '{entry}': the {what} '{text}' is not a whole number.");

    private const string Example = "--schedule 256:500,512:300";
}
