using IlgpuStyle.Kernels.Tuning;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Host;

/// <summary>Which optimizer a run uses.</summary>
internal enum OptimizerKind
{
    Lbfgs,
    Adam,
}

/// <summary>How the image being optimized starts.</summary>
internal enum InitKind
{
    Content,
    Random,
    Image,

    /// <summary>Every pixel mid-grey (0.5 on [0, 1]).</summary>
    Gray,

    /// <summary>Each pixel's channels uniform on [0, 1].</summary>
    Uniform,

    /// <summary>Each pixel's channels normal, mean 0.5 and deviation 0.25, clamped to [0, 1].</summary>
    Normal,

    /// <summary>Normal pixels with the style images' per-channel mean and deviation, clamped to [0, 1].</summary>
    StyleStats,
}

/// <summary>What a run does about colour (<c>--color-control</c>; Gatys et al. 2017, section 5).</summary>
internal enum ColorControl
{
    /// <summary>Colours come from the optimization like everything else.</summary>
    None,

    /// <summary>After the run, the result's luminance with the content's chroma (<c>--original-colors</c>).</summary>
    PostLuminance,

    /// <summary>The optimization runs on luminance alone (section 5.1).</summary>
    LuminanceOnly,

    /// <summary>The style images' colours matched to the content's before the targets (section 5.2).</summary>
    MatchStyle,
}

/// <summary>
/// Everything <c>ilgpu-style --content ... --style ...</c> was asked to do, as parsed. The loss's,
/// L-BFGS's and Adam's settings are their own option records, whose defaults are the run's defaults;
/// this record adds only what belongs to the run itself. The command line takes every default it
/// shows from here.
/// </summary>
internal sealed record RunOptions
{
    /// <summary>What a run does with every option left out (content and styles have no default): the defaults
    /// the command line shows and uses.</summary>
    public static RunOptions Defaults { get; } = new() { Content = "", Styles = [] };

    /// <summary>The content image; null synthesises a texture (issue 16, "Textures").</summary>
    public required string? Content { get; init; }
    public required IReadOnlyList<string> Styles { get; init; }
    public string Output { get; init; } = "out.png";
    public int Size { get; init; } = 512;
    public double StyleScale { get; init; } = 1.0;

    /// <summary>
    /// <c>--style-size</c>: the style images' longer side in pixels at every scale, whatever the content's size
    /// (crowsonkb's style_size); null: <see cref="StyleScale"/> times each scale's size. OptionRules refuses the two
    /// given together.
    /// </summary>
    public int? StyleSize { get; init; }

    /// <summary>Iterations of whichever optimizer runs (its <c>MaxIterations</c> is set from this).</summary>
    public int Iterations { get; init; } = IOptimizer.DefaultMaxIterations;

    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Lbfgs;

    /// <summary>
    /// The step of whichever optimizer runs; null means its default: L-BFGS's
    /// <see cref="LbfgsOptions.LearningRate"/>, or Adam's for the weights' input scale and the style loss
    /// (<see cref="Preprocessing.AdamLearningRate"/>).
    /// </summary>
    public double? LearningRate { get; init; }

    /// <summary>The loss: layers, weights, pooling, gradient normalisation, style blend.</summary>
    public StyleOptions Style { get; init; } = new();

    /// <summary>L-BFGS's settings (<see cref="Iterations"/> and <see cref="LearningRate"/> replace its own).</summary>
    public LbfgsOptions Lbfgs { get; init; } = new();

    /// <summary>Adam's settings (<see cref="Iterations"/> and <see cref="LearningRate"/> replace its own).</summary>
    public AdamOptions Adam { get; init; } = new();

    /// <summary><c>--min-size</c>: the smallest scale of a coarse-to-fine run (null: one scale).</summary>
    public int? MinSize { get; init; }

    /// <summary><c>--scale-ratio</c>: how much larger each scale of <see cref="MinSize"/>'s series is than the
    /// one before; by default sqrt(2), so each scale has twice the pixels of the one before.</summary>
    public double ScaleRatio { get; init; } = 1.41421356;

    /// <summary><c>--schedule</c>, parsed: every scale and its iterations (null: none; it overrides
    /// <see cref="MinSize"/>).</summary>
    public IReadOnlyList<Scale>? Schedule { get; init; }

    /// <summary><c>--initial-iterations</c>: the first scale's iterations (null: <see cref="Iterations"/>).</summary>
    public int? InitialIterations { get; init; }

    /// <summary><c>--average-decay</c>: D of the average of the iterates that is written (0: off, the last
    /// iterate).</summary>
    public double AverageDecay { get; init; }

    /// <summary>Whether the run goes coarse to fine (<c>--min-size</c> or <c>--schedule</c>): its report and
    /// snapshot names then carry the scale; otherwise it is the plain one-scale run.</summary>
    public bool MultiScale => MinSize is not null || Schedule is not null;

    public InitKind Init { get; init; } = InitKind.Content;
    public string? InitImage { get; init; }
    public int Seed { get; init; }
    public bool Tf32 { get; init; }

    /// <summary><c>--tune</c>: whether the convolutions' variants are timed on the device (auto: on a GPU).</summary>
    public TuningMode Tune { get; init; } = TuningMode.Auto;

    /// <summary><c>--conv-algorithm</c>: Winograd's algorithm where the rule picks it (auto), never, or wherever it
    /// can run.</summary>
    public ConvAlgorithm ConvAlgorithm { get; init; } = ConvAlgorithm.Auto;

    /// <summary>Cores the CPU device's host-code operations use (<c>--threads</c>; default: every core).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
    public int PrintEvery { get; init; } = 50;
    public int SaveEvery { get; init; }
    public string? Report { get; init; }
    public string Device { get; init; } = "auto";
    /// <summary>The weights file; null: the default (<see cref="WeightsLocation.Default"/>).</summary>
    public string? Weights { get; init; }

    // ---------------------------------------------------------------- colour, textures, output (issue 16)

    /// <summary><c>--color-control</c> (<c>--original-colors</c> is
    /// <see cref="ColorControl.PostLuminance"/>).</summary>
    public ColorControl ColorControl { get; init; } = ColorControl.None;

    /// <summary><c>--color-match</c>: the map of <see cref="ColorControl.MatchStyle"/>.</summary>
    public ColorMatchMethod ColorMatch { get; init; } = ColorMatchMethod.Pca;

    /// <summary><c>--texture-size WxH</c> of a run without content (null: <see cref="Size"/> square).</summary>
    public (int Width, int Height)? TextureSize { get; init; }

    /// <summary><c>--bit-depth</c> of the PNG output and snapshots: 8 or 16.</summary>
    public int BitDepth { get; init; } = 8;

    /// <summary>Whether the run synthesises a texture (no content image).</summary>
    public bool Texture => Content is null;

    /// <summary>A texture's size at the last scale: <see cref="TextureSize"/>, else <see cref="Size"/>
    /// square.</summary>
    public (int Width, int Height) TextureCanvas => TextureSize ?? (Size, Size);

    // Regions (Gatys et al. 2017, sec. 4; RegionMasks.cs checks and loads them).

    /// <summary><c>--content-mask</c> or <c>--content-masks</c>: mask i says where style image i paints
    /// (null: no regions).</summary>
    public IReadOnlyList<string>? ContentMasks { get; init; }

    /// <summary><c>--style-masks</c>: mask i says which part of style image i is used (null: all of each).</summary>
    public IReadOnlyList<string>? StyleMasks { get; init; }

    /// <summary><c>--mask-mode</c> as given (null: left out, <see cref="MaskMode.Simple"/>).</summary>
    public MaskMode? MaskMode { get; init; }

    // ---------------------------------------------------------------- memory planning, tiles (issue 14)

    /// <summary><c>--max-memory</c>: the device bytes the run may plan for; null: the device's free memory less a
    /// margin (<see cref="MemoryLimit.Default"/>).</summary>
    public long? MaxMemory { get; init; }

    /// <summary><c>--tile-size</c>: the side of a tile's core in pixels; null: auto (untiled when the run fits,
    /// else the tiles that fit with the least arithmetic, <see cref="RunPlanner"/>).</summary>
    public int? TileSize { get; init; }

    /// <summary><c>--dry-run</c>: print the plan and exit without running or writing anything.</summary>
    public bool DryRun { get; init; }

    // ---------------------------------------------------------------- watching a run (issue 27)

    /// <summary><c>--preview [PORT]</c> and <c>--preview-bind</c>: where the live page listens (null: no page).
    /// </summary>
    public PreviewSettings? Preview { get; init; }

    /// <summary><c>--html-report FILE.html</c>: the self-contained page written at the end (null: none).</summary>
    public string? HtmlReport { get; init; }
}
