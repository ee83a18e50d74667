using System.CommandLine;

namespace IlgpuStyle.Host;

/// <summary>
/// The options of the memory planner (<see cref="RunPlanner"/>): <c>--max-memory SIZE</c>,
/// <c>--tile-size N|auto</c> and <c>--dry-run</c>. A bad value is a one-line error naming the option,
/// as for every numeric option (<see cref="NumberOptions"/>).
/// </summary>
internal static class PlanningOptions
{
    /// <summary>
    /// The units <c>--max-memory</c> takes. Both families are in use and differ by 7% at GB: disk and
    /// GPU makers count GB as 10^9 bytes, operating systems and <c>nvidia-smi</c> as GiB (2^30), so
    /// each means exactly what it says.
    /// </summary>
    private static readonly (string Unit, long Bytes)[] Units =
    [
        ("B", 1), ("kB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
    ];

    private const string SizeExpected =
        "a size with a unit, like 6GB, 512MB or 1.5GiB (GB = 10^9 bytes, GiB = 2^30 bytes)";

    /// <summary><c>--max-memory SIZE</c>: the device bytes a run may plan for (null: the device's free memory,
    /// less a margin).</summary>
    public static Option<long?> MaxMemory()
    {
        var option = new Option<long?>("--max-memory")
        {
            Description = "The device memory the run may plan for, e.g. 6GB, 512MB or 1.5GiB (GB = 10^9 bytes, " +
                          "GiB = 2^30). A run that does not fit is split into tiles (see --tile-size). " +
                          "Default: what the device has free, less 10%.",
        };
        option.CustomParser = result =>
        {
            string text = NumberOptions.Last(result);
            if (TryParseBytes(text, out long bytes)) return bytes;
            result.AddError($"--max-memory takes {SizeExpected}; '{text}' is not one.");
            return null;
        };
        return option;
    }

    /// <summary>What <see cref="TileSize"/> reads for <c>auto</c> (System.CommandLine cannot return null from a
    /// parser for a value given): <see cref="RunOptions.TileSize"/> null.</summary>
    public const int Auto = 0;

    /// <summary>What <c>--tile-size</c> means in the main job.</summary>
    public const string TileSizeDescription =
        "Evaluate the loss in tiles whose core (the part each tile owns) is N x N pixels, N rounded to the " +
        "deepest layer's stride (16 for relu5_1); the loss and gradient are still exactly the whole image's. " +
        "auto: untiled when the run fits in --max-memory, else the tiles that fit with the least arithmetic (as a " +
        "rule the largest). [default: auto]";

    /// <summary><c>--tile-size N|auto</c>: the tile core's side in pixels, or <see cref="Auto"/>; the main job and
    /// bench read it alike, each with its own <paramref name="description"/>.</summary>
    public static Option<int> TileSize(string description = TileSizeDescription)
    {
        var option = new Option<int>("--tile-size") { Description = description };
        option.CustomParser = result =>
        {
            string text = NumberOptions.Last(result);
            if (text.Equals("auto", StringComparison.OrdinalIgnoreCase)) return Auto;
            if (NumberOptions.TryWhole(text, out int side) && side >= 1) return side;
            result.AddError($"--tile-size takes auto or a whole number of pixels, at least 1; '{text}' is not one.");
            return Auto;
        };
        return option;
    }

    /// <summary><c>--dry-run</c>: print the plan and exit.</summary>
    public static Option<bool> DryRun() => new("--dry-run")
    {
        Description = "Print the memory plan (per scale: image size, tiles, bytes by part against --max-memory, " +
                      "time per evaluation relative to untiled) and exit without running or writing anything.",
    };

    /// <summary>
    /// Reads <c>6GB</c>, <c>512 MB</c>, <c>1.5GiB</c>, <c>2e9B</c>: a positive number (invariant culture) and
    /// one of <see cref="Units"/>, case-insensitive; the result is rounded down to whole bytes.
    /// </summary>
    public static bool TryParseBytes(string text, out long bytes)
    {
        bytes = 0;
        string trimmed = text.Trim();
        // The longest unit that ends the text: "GiB" before "B".
        var match = Units.Where(u => trimmed.EndsWith(u.Unit, StringComparison.OrdinalIgnoreCase))
            .OrderByDescending(u => u.Unit.Length).FirstOrDefault();
        if (match.Unit is null) return false;
        string number = trimmed[..^match.Unit.Length].TrimEnd();
        if (!NumberOptions.TryReal(number, out double value) || value <= 0) return false;
        double total = Math.Floor(value * match.Bytes);
        if (total < 1 || total >= long.MaxValue) return false;
        bytes = (long)total;
        return true;
    }
}
