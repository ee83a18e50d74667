using System.CommandLine;
using System.Globalization;
using IlgpuStyle.Kernels.Tuning;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Optimization;
using IlgpuStyle.Weights;

namespace IlgpuStyle.Host;

/// <summary>
/// The main job's options: names as users of jcjohnson/neural-style know them, in kebab-case. Every
/// default, and every default the help text names, is read from <see cref="RunOptions"/> and the
/// option records it holds, so a default is written only there.
/// </summary>
internal sealed class StyleOptionsParser
{
    private static readonly RunOptions Defaults = RunOptions.Defaults;

    private readonly Option<string?> _content = new("--content")
    {
        Description = "The photograph to repaint (JPEG, PNG, BMP, TGA). Left out, the run synthesises a texture " +
                      "of the style (see --texture-size).",
    };
    private readonly Option<string[]> _style = new("--style")
    {
        Description = "Style image(s): comma-separated, or --style repeated (each value is then one file, " +
                      "commas and all). Required.",
    };
    private readonly Option<string?> _blend = new("--style-blend-weights")
    {
        Description = "One weight per style image, comma-separated (normalized to sum 1). Default: equal.",
    };
    private readonly Option<string> _output = new("--output")
    {
        Description = "The result, .png or .jpg.", DefaultValueFactory = _ => Defaults.Output,
    };
    private readonly Option<int> _size = NumberOptions.Whole("--size", "Longer side of the result, in pixels.",
        Defaults.Size, minimum: 1);
    private readonly Option<double?> _styleScale = NumberOptions.Real("--style-scale",
        "Style images are scaled to a longer side of style-scale * size.", RealRange.Positive, Defaults.StyleScale);
    private readonly Option<int?> _styleSize = NumberOptions.OptionalWhole("--style-size",
        "Style images are scaled to this longer side at every scale, whatever the size (instead of --style-scale).",
        minimum: 1);
    private readonly Option<int> _iterations = NumberOptions.Whole("--iterations", "Optimizer iterations.",
        Defaults.Iterations, minimum: 0);
    private readonly Option<int?> _minSize = NumberOptions.OptionalWhole("--min-size",
        "Coarse to fine: run at --size, --size/r, --size/r^2, ... down to this longer side (r: --scale-ratio), " +
        "smallest first, each scale starting from the last one's result enlarged; --iterations is then per scale.",
        minimum: 1);
    private readonly Option<double?> _scaleRatio = NumberOptions.Real("--scale-ratio",
        "With --min-size: each scale is this much smaller than the next.", RealRange.AboveOne,
        Defaults.ScaleRatio, hint: "(each scale this much smaller than the next)");
    private readonly Option<string?> _schedule = new("--schedule")
    {
        Description = "Coarse to fine with every scale named: SIZE:ITERATIONS,... from the smallest, e.g. " +
                      "256:500,512:300,1024:100; the last size is the result's (overrides --min-size).",
    };
    private readonly Option<int?> _initialIterations = NumberOptions.OptionalWhole("--initial-iterations",
        "With --min-size: the first scale's iterations (default: --iterations, which is per scale).", minimum: 0);
    private readonly Option<double?> _averageDecay = NumberOptions.Real("--average-decay",
        "Write the average of the iterates, exponentially weighted with this decay and restarted " +
        "at each scale (0: off, the last iterate; 0.99 suits Adam).", RealRange.Fraction, Defaults.AverageDecay,
        hint: "(0: off; 0.99 suits Adam)");
    private readonly Option<string> _optimizer = ChoiceOptions.Of("--optimizer", "lbfgs or adam.",
        Defaults.Optimizer);
    private readonly Option<double?> _learningRate = NumberOptions.Real("--learning-rate",
        $"Adam's step (default {Number(Preprocessing.CaffeAdamLearningRate)} for caffe weights, " +
        $"{Number(Preprocessing.CaffeAdamLearningRate)}/{Number(Preprocessing.TorchvisionScale)} for " +
        $"torchvision weights; with --style-loss w2 crowsonkb's {Number(LossWeights.W2CaffeAdamLearningRate)} and " +
        $"{Number(LossWeights.W2CaffeAdamLearningRate)}/{Number(Preprocessing.TorchvisionScale)}), or L-BFGS's " +
        $"step scale (default {Number(Defaults.Lbfgs.LearningRate)}).",
        RealRange.Positive);
    private readonly Option<int> _history = NumberOptions.Whole("--lbfgs-history", "L-BFGS curvature pairs kept.",
        Defaults.Lbfgs.HistorySize, minimum: 1);
    private readonly Option<bool> _noLineSearch = new("--lbfgs-no-line-search")
    {
        Description = "Fixed L-BFGS steps without a line search, like the classic tool " +
                      $"(default: {Describe(Defaults.Lbfgs.LineSearch)}).",
    };
    private readonly Option<double?> _contentWeight = LossWeight("--content-weight",
        $"w_c ({WeightDefaults(LossWeights.Caffe.Content, 2)}).");
    private readonly Option<double?> _styleWeight = LossWeight("--style-weight",
        $"w_s ({WeightDefaults(LossWeights.Caffe.Style, 4)}).");
    private readonly Option<double?> _tvWeight = LossWeight("--tv-weight",
        $"w_tv, total-variation smoothing ({WeightDefaults(LossWeights.Caffe.TotalVariation, 2)}).");
    private readonly Option<string> _contentLayers = new("--content-layers")
    {
        Description = "Comma-separated ReLU layers for the content loss.",
        DefaultValueFactory = _ => string.Join(',', Defaults.Style.ContentLayers),
    };
    private readonly Option<string> _styleLayers = new("--style-layers")
    {
        Description = "Comma-separated ReLU layers for the style loss.",
        DefaultValueFactory = _ => string.Join(',', Defaults.Style.StyleLayers),
    };
    private readonly Option<string?> _styleLayerWeights = new("--style-layer-weights")
    {
        Description = "One weight per style layer, comma-separated, multiplying --style-weight. Default: 1 each.",
    };
    private readonly Option<string> _pooling = ChoiceOptions.Of("--pooling",
        "Pooling between VGG blocks: max, avg, or l2 (each 2x2 window's root mean square, crowsonkb's).",
        Defaults.Style.Pooling);
    private readonly Option<string> _styleLoss = ChoiceOptions.Of("--style-loss",
        "gram (Gatys et al.'s Gram matrices) or w2 (the Wasserstein-2 distance between the features' means and " +
        "covariances, crowsonkb's style loss; its defaults are his balance: --content-weight 0.015, " +
        "--style-weight 1, --tv-weight 1.74e-7, style layer weights 256,64,16,4,1 normalised; Adam's step 5.1, " +
        "5.1/58 for torchvision weights).",
        Defaults.Style.StyleLoss);
    private readonly Option<bool> _normalize = new("--normalize-gradients")
    {
        Description = "Divide each loss layer's gradient by its L1 norm (neural-style's option).",
    };
    private readonly Option<string> _init = ChoiceOptions.Of("--init",
        "Start from the content image, faint noise around the mean colour (random), --init-image (image), mid-grey " +
        "(gray), uniform noise on [0, 1] (uniform), normal noise of mean 0.5 and deviation 0.25 (normal), or " +
        "normal noise with the style images' per-channel mean and deviation (style-stats).", Defaults.Init);
    private readonly Option<string?> _initImage = new("--init-image")
    {
        Description = "The starting image for --init image (resized to the content's size).",
    };
    private readonly Option<int> _seed = NumberOptions.Whole("--seed",
        "Seed of --init random, uniform, normal and style-stats.", Defaults.Seed);
    private readonly Option<bool> _originalColors = new("--original-colors")
    {
        Description = "Keep the content's colours: take only the luminance of the result.",
    };
    private readonly Option<int> _printEvery = NumberOptions.Whole("--print-every",
        "Print the losses every N iterations (0: only the first and last).", Defaults.PrintEvery, minimum: 0);
    private readonly Option<int> _saveEvery = NumberOptions.Whole("--save-every",
        "Save a snapshot (out_N.png; coarse to fine: out_SIZE_N.png, and each scale's result) every " +
        "N iterations (0: never).", Defaults.SaveEvery, minimum: 0);
    private readonly Option<string?> _report = new("--report")
    {
        Description = "Write a JSON report (losses per printed iteration, device, peak memory, time) to this file.",
    };
    private readonly Option<bool> _tf32 = DeviceOptions.Tf32();
    private readonly Option<string> _tune = DeviceOptions.Tune();
    private readonly Option<string> _convAlgorithm = DeviceOptions.ConvAlgorithm();
    // Regions (Gatys et al. 2017, sec. 4): which style paints where.
    private readonly Option<string?> _contentMask = new("--content-mask")
    {
        Description = "A grey image the content's shape, white where the (one) style applies; grey weights it, " +
                      "black leaves it out.",
    };
    private readonly Option<string?> _contentMasks = new("--content-masks")
    {
        Description = "Comma-separated grey images the content's shape, mask i white where style image i paints; " +
                      "every pixel must be non-black in at least one, overlaps are weighted by the values.",
    };
    private readonly Option<string?> _styleMasks = new("--style-masks")
    {
        Description = "Comma-separated grey images, mask i the shape of style image i and white on the part of it " +
                      "that is used (default: all of each).",
    };
    private readonly Option<string?> _maskMode = ChoiceOptions.OptionalOf<MaskMode>("--mask-mode",
        "How masks reach each layer: simple (averaged down; the default) or inside (eroded so that a region's " +
        "features never see across its boundary).");
    private readonly Option<string> _device = DeviceOptions.Device();
    private readonly Option<int> _threads = DeviceOptions.Threads();
    private readonly Option<string?> _weights = new("--weights")
    {
        Description = $"Converted VGG weights (safetensors). Default: ${WeightsLocation.Variable} if set, else the " +
                      $"repository's weights/{WeightsLocation.FileName} if present, else {WeightsLocation.PerUser} " +
                      "(downloaded and converted on first use).",
    };

    // ---------------------------------------------------------------- colour, textures, output (issue 16)
    private readonly Option<string> _colorControl = ChoiceOptions.Of("--color-control",
        "none; post-luminance (the result's luminance in the content's colours, as --original-colors); " +
        "luminance-only (optimize the luminance alone, recombined with the content's colours); match-style " +
        "(the style images' colours matched to the content's first).", Defaults.ColorControl);
    private readonly Option<string> _colorMatch = ChoiceOptions.Of("--color-match",
        "With --color-control match-style: pca, chol or sym (linear maps that match mean and covariance), or " +
        "histogram (each channel's histogram).", Defaults.ColorMatch);
    private readonly Option<(int Width, int Height)?> _textureSize = NumberOptions.Dimensions("--texture-size",
        "Without --content: the texture's WIDTHxHEIGHT (default: --size square).");
    private readonly Option<int> _bitDepth = ChoiceOptions.OfNumbers("--bit-depth",
        "Bits per sample of the PNG output and snapshots: 8 or 16 (16: written from the unrounded result).", [8, 16],
        Defaults.BitDepth);

    // ---------------------------------------------------------------- memory planning, tiles (issue 14)
    private readonly Option<long?> _maxMemory = PlanningOptions.MaxMemory();
    private readonly Option<int> _tileSize = PlanningOptions.TileSize();
    private readonly Option<bool> _dryRun = PlanningOptions.DryRun();

    // ---------------------------------------------------------------- watching a run (issue 27)
    private readonly Option<string?> _preview = new("--preview")
    {
        Description = "Serve a live page of the run (the image as it changes, the content and style, loss curves, " +
                      "Stop and Save snapshot buttons) on 127.0.0.1 at PORT, or a free port when left out; its URL " +
                      "(with a token) is printed.",
        Arity = ArgumentArity.ZeroOrOne,
        HelpName = "PORT",
    };
    private readonly Option<string?> _previewBind = new("--preview-bind")
    {
        Description = "With --preview: listen on this address instead of 127.0.0.1 (0.0.0.0: every interface), " +
                      "reachable from other machines.",
        HelpName = "ADDRESS",
    };
    private readonly Option<string?> _htmlReport = new("--html-report")
    {
        Description = "Write a self-contained page of the run (images, loss curves, options and plan inlined) to " +
                      "this .html file at the end.",
        HelpName = "FILE.html",
    };

    /// <summary>Adds every option of the main job to <paramref name="root"/>.</summary>
    public StyleOptionsParser(RootCommand root)
    {
        foreach (var option in new Option[]
                 {
                     _content, _style, _blend, _output, _size, _styleScale, _styleSize, _iterations, _minSize,
                     _scaleRatio, _schedule, _initialIterations, _averageDecay, _optimizer, _learningRate,
                     _history, _noLineSearch, _contentWeight, _styleWeight, _tvWeight, _contentLayers, _styleLayers,
                     _styleLayerWeights, _pooling, _styleLoss, _normalize, _init, _initImage, _seed, _originalColors,
                     _printEvery, _saveEvery, _report, _tf32, _convAlgorithm, _tune, _device, _threads, _weights,
                     _colorControl, _colorMatch, _textureSize, _bitDepth,
                     _contentMask, _contentMasks, _styleMasks, _maskMode,
                     _maxMemory, _tileSize, _dryRun, _preview, _previewBind, _htmlReport,
                 })
        {
            root.Options.Add(option);
        }
        foreach (var option in new Option[]
                 {
                     _content, _output, _report, _weights, _initImage, _contentMask, _htmlReport,
                 })
            TextOptions.RefuseEmpty(option);
        TextOptions.RefuseEmpty(_previewBind, "an IP address");
        foreach (var option in new Option[] { _style, _contentMasks, _styleMasks })
            TextOptions.RefuseNone(option, "comma-separated file names");
        TextOptions.RefuseNone(_contentLayers, "comma-separated ReLU layers (like relu4_2)",
            "; to leave the content loss out, use --content-weight 0");
        TextOptions.RefuseNone(_styleLayers, "comma-separated ReLU layers (like relu1_1,relu2_1)",
            "; to leave the style loss out, use --style-weight 0");
    }

    /// <summary>
    /// The run's options: each as its option read it (syntax and range are checked there), the defaults that
    /// depend on other options filled in, and then all of them checked against each other
    /// (<see cref="OptionRules.Check"/>).
    /// </summary>
    public RunOptions Read(ParseResult parse)
    {
        string? content = parse.GetValue(_content);
        var styles = StyleFiles(parse.GetValue(_style) ?? []);
        if (styles.Count == 0)
            throw new UsageException("--style is required: one or more paintings (comma-separated or repeated).");
        var schedule = parse.GetValue(_schedule) is { } text ? ScaleSchedule.Parse(text) : null;
        var textureSize = parse.GetValue(_textureSize);
        var given = new GivenOptions(
            Size: Given(parse, _size) ? parse.GetValue(_size) : null,
            StyleScale: Given(parse, _styleScale),
            ColorControl: Given(parse, _colorControl)
                ? ChoiceOptions.Parse<ColorControl>(parse.GetValue(_colorControl)!)
                : null,
            OriginalColors: parse.GetValue(_originalColors),
            ColorMatch: Given(parse, _colorMatch),
            ContentMask: parse.GetValue(_contentMask) is not null,
            ContentMasks: parse.GetValue(_contentMasks) is not null);
        string? mask = parse.GetValue(_contentMask), masks = parse.GetValue(_contentMasks);
        var o = Defaults with
        {
            Content = content,
            Styles = styles,
            Output = parse.GetValue(_output)!,
            // The result's size: the last scale of --schedule, else a texture's longer side, else --size.
            Size = schedule?[^1].Size
                   ?? (textureSize is { } t ? Math.Max(t.Width, t.Height) : parse.GetValue(_size)),
            StyleScale = parse.GetValue(_styleScale)!.Value,
            StyleSize = parse.GetValue(_styleSize),
            Iterations = parse.GetValue(_iterations),
            MinSize = parse.GetValue(_minSize),
            ScaleRatio = parse.GetValue(_scaleRatio)!.Value,
            Schedule = schedule,
            InitialIterations = parse.GetValue(_initialIterations),
            AverageDecay = parse.GetValue(_averageDecay)!.Value,
            Optimizer = ChoiceOptions.Parse<OptimizerKind>(parse.GetValue(_optimizer)!),
            LearningRate = parse.GetValue(_learningRate),
            Style = Defaults.Style with
            {
                ContentLayers = List([parse.GetValue(_contentLayers)!]),
                StyleLayers = List([parse.GetValue(_styleLayers)!]),
                StyleLayerWeights = NumberOptions.Weights(parse.GetValue(_styleLayerWeights), "--style-layer-weights"),
                ContentWeight = (float?)parse.GetValue(_contentWeight),
                StyleWeight = (float?)parse.GetValue(_styleWeight),
                TvWeight = (float?)parse.GetValue(_tvWeight),
                Pooling = ChoiceOptions.Parse<Pooling>(parse.GetValue(_pooling)!),
                StyleLoss = ChoiceOptions.Parse<StyleLossKind>(parse.GetValue(_styleLoss)!),
                NormalizeGradients = parse.GetValue(_normalize),
                StyleBlendWeights = NumberOptions.Weights(parse.GetValue(_blend), "--style-blend-weights"),
            },
            Lbfgs = Defaults.Lbfgs with
            {
                HistorySize = parse.GetValue(_history),
                LineSearch = parse.GetValue(_noLineSearch) ? LineSearchKind.None : Defaults.Lbfgs.LineSearch,
            },
            // A texture (no content) starts from noise unless told otherwise.
            Init = content is null && !Given(parse, _init)
                ? InitKind.Random
                : ChoiceOptions.Parse<InitKind>(parse.GetValue(_init)!),
            InitImage = parse.GetValue(_initImage),
            Seed = parse.GetValue(_seed),
            Tf32 = parse.GetValue(_tf32),
            Tune = ChoiceOptions.Parse<TuningMode>(parse.GetValue(_tune)!),
            ConvAlgorithm = ChoiceOptions.Parse<ConvAlgorithm>(parse.GetValue(_convAlgorithm)!),
            PrintEvery = parse.GetValue(_printEvery),
            SaveEvery = parse.GetValue(_saveEvery),
            Report = parse.GetValue(_report),
            Device = parse.GetValue(_device)!,
            Threads = parse.GetValue(_threads),
            Weights = parse.GetValue(_weights),
            // --original-colors is --color-control post-luminance.
            ColorControl = given.OriginalColors
                ? ColorControl.PostLuminance
                : ChoiceOptions.Parse<ColorControl>(parse.GetValue(_colorControl)!),
            ColorMatch = ChoiceOptions.Parse<ColorMatchMethod>(parse.GetValue(_colorMatch)!),
            TextureSize = textureSize,
            BitDepth = parse.GetValue(_bitDepth),
            ContentMasks = mask is not null ? [mask] : masks is not null ? List([masks]) : null,
            StyleMasks = parse.GetValue(_styleMasks) is { } styleMasks ? List([styleMasks]) : null,
            MaskMode = parse.GetValue(_maskMode) is { } mode ? ChoiceOptions.Parse<MaskMode>(mode) : null,
            MaxMemory = parse.GetValue(_maxMemory),
            TileSize = parse.GetValue(_tileSize) is var side and not PlanningOptions.Auto ? side : null,
            DryRun = parse.GetValue(_dryRun),
            Preview = PreviewSettings.Of(parse.GetResult(_preview) is not null, parse.GetValue(_preview),
                parse.GetValue(_previewBind)),
            HtmlReport = parse.GetValue(_htmlReport),
        };
        OptionRules.Check(o, given);
        return o;
    }

    /// <summary>Whether <paramref name="option"/> was on the command line (not its default).</summary>
    private static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };

    private static string Describe(LineSearchKind kind) => kind switch
    {
        LineSearchKind.StrongWolfe => "strong Wolfe line search",
        LineSearchKind.Armijo => "Armijo backtracking line search",
        _ => "no line search",
    };

    /// <summary>
    /// A loss weight's defaults for both conventions: the torchvision one is the caffe one times
    /// <see cref="Preprocessing.TorchvisionScale"/> to the power the term scales with (see
    /// <see cref="LossWeights.Torchvision"/>).
    /// </summary>
    private static string WeightDefaults(float caffe, int power) =>
        $"default {Number(caffe)} for caffe weights, " +
        $"{Number(caffe)}*{Number(Preprocessing.TorchvisionScale)}^{power} for torchvision weights";

    /// <summary>A default as the help shows it: <c>5</c>, <c>58</c>, <c>1e-3</c>.</summary>
    private static string Number(double value) => value is > 0 and < 0.01
        ? value.ToString("0.###e0", CultureInfo.InvariantCulture)
        : value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A loss weight: a float, 0 or more; left out, the weights' convention chooses.</summary>
    private static Option<double?> LossWeight(string name, string description) =>
        NumberOptions.Real(name, description, RealRange.NonNegative, maximum: float.MaxValue);

    /// <summary>
    /// The style images: one <c>--style</c> value is split at commas (<c>a.jpg,b.jpg</c>); when
    /// <c>--style</c> is repeated each value is one file as given, so a name with a comma can be
    /// given on its own (<c>--style "Composition, 1921.jpg" --style b.jpg</c>), as can a single value that
    /// names an existing file.
    /// </summary>
    private static List<string> StyleFiles(string[] values) =>
        values.Length == 1 && !File.Exists(values[0]) ? List(values) : values.Where(v => v.Trim().Length > 0).ToList();

    /// <summary>Comma-separated and repeated values, flattened, blanks dropped.</summary>
    private static List<string> List(IEnumerable<string> values) =>
        values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .ToList();
}
