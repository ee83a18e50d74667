using System.CommandLine;
using System.Globalization;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Optimization;
using IlgpuStyle.Weights;

namespace IlgpuStyle.Host;

/// <summary>
/// The command line of <c>ilgpu-style</c>: the commands, their options, and the one place where
/// errors a user can fix become a one-line message and a non-zero exit code.
/// </summary>
internal static class Cli
{
    /// <summary>Exit code for a run that completed but found a problem (a failed check).</summary>
    public const int ExitFailed = 1;

    /// <summary>Exit code for a request that could not be carried out (bad input, no such device).</summary>
    public const int ExitUsage = 2;

    /// <summary>Parses <paramref name="args"/>, runs the command and returns the process exit code.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="output">Where results and progress go.</param>
    /// <param name="error">Where one-line errors go.</param>
    /// <param name="live">Draw a live progress bar (only when <paramref name="output"/> is a terminal).</param>
    /// <param name="interruption">Ctrl-C and SIGTERM, when the process listens for them.</param>
    public static int Run(string[] args, TextWriter output, TextWriter error, bool live = false,
        Interruption? interruption = null)
    {
        var root = new RootCommand(
            "ilgpu-style: render a photograph in the style of paintings (Gatys et al.) " +
            "with hand-written ILGPU kernels.");
        var run = new StyleOptionsParser(root);
        root.SetAction(parse => Guarded(error, () => StyleRun.Execute(run.Read(parse), output, live, interruption)));
        root.Subcommands.Add(DevicesCommand(output, error));
        root.Subcommands.Add(VerifyCommand(output, error));
        root.Subcommands.Add(BenchCommand(output, error));
        root.Subcommands.Add(PtxCommand(output, error));

        // Every message of ilgpu-style is English, so System.CommandLine's own ones are too (it would
        // otherwise follow the user's UI language, half German, half English).
        CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            error.WriteLine($"error: {OneLine(parsed.Errors[0].Message)} See 'ilgpu-style --help'.");
            return ExitUsage;
        }
        return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error });
    }

    /// <summary>The <c>--threads</c> option of the main job and bench.</summary>
    internal static Option<int> ThreadsOption() => NumberOptions.Whole("--threads",
        "Cores the CPU device uses (its host-code operations); the default is every core.",
        StyleOptionsParser.Defaults.Threads, minimum: 1);

    internal static Option<string> DeviceOption() => new("--device")
    {
        Description = $"The device to run on: {Devices.Choices}.",
        DefaultValueFactory = _ => StyleOptionsParser.Defaults.Device,
    };

    private static Command DevicesCommand(TextWriter output, TextWriter error)
    {
        var command = new Command("devices",
            "List the accelerators ILGPU can use (type, name, memory, compute units).");
        command.SetAction(_ => Guarded(error, () => DeviceList.Print(output)));
        return command;
    }

    private static Command VerifyCommand(TextWriter output, TextWriter error)
    {
        var device = DeviceOption();
        var filter = new Option<string?>("--kernel")
        {
            Description = "Run only the checks whose kernel name starts with this (e.g. conv2d, gram.backward).",
        };
        var command = new Command("verify",
            "Check every kernel against its CPU reference on one device and print a table " +
            "(kernel, shape, max abs/rel error, pass).");
        command.Options.Add(device);
        command.Options.Add(filter);
        command.SetAction(parse => Guarded(error,
            () => Verification.Run(output, parse.GetValue(device)!, parse.GetValue(filter))));
        return command;
    }

    private static Command BenchCommand(TextWriter output, TextWriter error)
    {
        var device = DeviceOption();
        // VGG-19 pools four times before relu5_1, so a side of 16 is the smallest that reaches it.
        var sizes = NumberOptions.WholeList("--size", "Image sizes (N x N) to time; repeat for several.", [512], 16);
        var iterations = NumberOptions.Whole("--iterations", "Timed evaluations per size.", 10, minimum: 1);
        var warmup = NumberOptions.Whole("--warmup", "Untimed evaluations first (kernel compilation, caches).", 2,
            minimum: 0);
        var divisor = NumberOptions.Whole("--width-divisor",
            "Divide VGG-19's channel counts by this (for quick runs on the CPU accelerator).", 1, minimum: 1);
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file." };
        var tf32 = new Option<bool>("--tf32")
        {
            Description = "Time the TF32 tensor-core convolutions (NVIDIA compute capability 8.0+).",
        };
        // Memory planning and tiling: a tiled evaluation timed against the untiled one.
        var tileSize = NumberOptions.OptionalWhole("--tile-size",
            "Also time a tiled evaluation of the same image, tile cores of N x N pixels (rounded to the stride, " +
            "16), against the untiled one.");
        var command = new Command("bench",
            "Time one loss evaluation (forward + backward) of VGG-19 per image size, with a per-layer table, " +
            "TFLOP/s and peak device memory.");
        var threads = ThreadsOption();
        foreach (var option in new Option[]
                 {
                     device, sizes, iterations, warmup, divisor, json, tf32, threads, tileSize,
                 })
        {
            command.Options.Add(option);
        }
        command.SetAction(parse => Guarded(error, () =>
        {
            return Bench.Run(output, parse.GetValue(device)!, parse.GetValue(sizes)!, parse.GetValue(iterations),
                parse.GetValue(warmup), parse.GetValue(divisor), parse.GetValue(json), parse.GetValue(tf32),
                parse.GetValue(tileSize), parse.GetValue(threads));
        }));
        return command;
    }

    private static Command PtxCommand(TextWriter output, TextWriter error)
    {
        var kernel = new Option<string?>("--kernel")
        {
            Description = "Only this kernel, e.g. Conv2d.TiledKernel or Conv2d.Tiled (default: every kernel).",
        };
        var folder = new Option<string>("--out")
        {
            Description = "The folder to write NAME.ptx files into.",
            Required = true,
        };
        var command = new Command("ptx",
            "Write the PTX ILGPU generates for the kernels (as a CUDA device receives it), one file per kernel; " +
            "no GPU needed.");
        command.Options.Add(kernel);
        command.Options.Add(folder);
        command.SetAction(parse => Guarded(error,
            () => PtxExport.Run(output, parse.GetValue(kernel), parse.GetValue(folder)!)));
        return command;
    }

    /// <summary>
    /// Runs a command body; errors the user can act on print one line (no stack trace) and return
    /// <see cref="ExitUsage"/>.
    /// </summary>
    internal static int Guarded(TextWriter error, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is UsageException or DeviceSelectionException or StyleSetupException
                                      or WeightsFormatException or ConverterException)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return ExitUsage;
        }
        catch (RunFailedException e)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return ExitFailed;
        }
        catch (ILGPU.Runtime.AcceleratorException e)
        {
            error.WriteLine($"error: the device failed ({OneLine(e.Message)}). If it ran out of memory, " +
                            "use a smaller --size; else check the driver, or use --device cpu.");
            return ExitUsage;
        }
        catch (OutOfMemoryException)
        {
            error.WriteLine("error: out of memory. Use a smaller --size or --lbfgs-history, or --optimizer adam.");
            return ExitUsage;
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}

/// <summary>
/// The main job's options: names as users of jcjohnson/neural-style know them, in kebab-case. Every
/// default, and every default the help text names, is read from <see cref="RunOptions"/> and the
/// option records it holds, so a default is written only there.
/// </summary>
internal sealed class StyleOptionsParser
{
    /// <summary>What a run does with every option left out (content and styles have no default).</summary>
    internal static readonly RunOptions Defaults = new() { Content = "", Styles = [] };

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
        "Style images are scaled to a longer side of style-scale * size.", zeroAllowed: false, Defaults.StyleScale);
    private readonly Option<int> _iterations = NumberOptions.Whole("--iterations", "Optimizer iterations.",
        Defaults.Iterations, minimum: 0);
    private readonly Option<int?> _minSize = NumberOptions.OptionalWhole("--min-size",
        "Coarse to fine: run at --size, --size/r, --size/r^2, ... down to this longer side (r: --scale-ratio), " +
        "smallest first, each scale starting from the last one's result enlarged; --iterations is then per scale.");
    private readonly Option<double?> _scaleRatio = NumberOptions.Real("--scale-ratio",
        "With --min-size: each scale is this much smaller than the next.", zeroAllowed: false, Defaults.ScaleRatio);
    private readonly Option<string?> _schedule = new("--schedule")
    {
        Description = "Coarse to fine with every scale named: SIZE:ITERATIONS,... from the smallest, e.g. " +
                      "256:500,512:300,1024:100; the last size is the result's (overrides --min-size).",
    };
    private readonly Option<int?> _initialIterations = NumberOptions.OptionalWhole("--initial-iterations",
        "With --min-size: the first scale's iterations (default: --iterations, which is per scale).");
    private readonly Option<double?> _averageDecay = NumberOptions.Real("--average-decay",
        "Write the average of the iterates, exponentially weighted with this decay and restarted " +
        "at each scale (0: off, the last iterate; 0.99 suits Adam).", zeroAllowed: true, Defaults.AverageDecay);
    private readonly Option<string> _optimizer = Choice("--optimizer", "lbfgs or adam.", Defaults.Optimizer);
    private readonly Option<double?> _learningRate = NumberOptions.Real("--learning-rate",
        $"Adam's step (default {Number(RunOptions.CaffeAdamLearningRate)} for caffe weights, " +
        $"{Number(RunOptions.CaffeAdamLearningRate)}/{Number(LossWeights.TorchvisionScale)} for " +
        $"torchvision weights), or L-BFGS's step scale (default {Number(Defaults.Lbfgs.LearningRate)}).",
        zeroAllowed: false);
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
    private readonly Option<string> _pooling = Choice("--pooling", "max or avg pooling between VGG blocks.",
        Defaults.Style.Pooling);
    private readonly Option<bool> _normalize = new("--normalize-gradients")
    {
        Description = "Divide each loss layer's gradient by its L1 norm (neural-style's option).",
    };
    private readonly Option<string> _init = Choice("--init",
        "Start from the content image, random noise, or --init-image.", Defaults.Init);
    private readonly Option<string?> _initImage = new("--init-image")
    {
        Description = "The starting image for --init image (resized to the content's size).",
    };
    private readonly Option<int> _seed = NumberOptions.Whole("--seed", "Seed of --init random.", Defaults.Seed);
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
    private readonly Option<bool> _tf32 = new("--tf32")
    {
        Description = "Run the convolutions on TF32 tensor cores (NVIDIA compute capability 8.0+): faster, " +
                      "about 3e-4 relative precision.",
    };
    // Regions (Gatys et al. 2017, sec. 4): which style paints where.
    private readonly Option<string?> _contentMask = new("--content-mask")
    {
        Description = "A grey image the content's shape, white where the (one) style applies; grey weights it. " +
                      "Every pixel must be non-black.",
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
    private readonly Option<string?> _maskMode = ChoiceWithoutDefault<MaskMode>("--mask-mode",
        "How masks reach each layer: simple (averaged down; the default) or inside (eroded so that a region's " +
        "features never see across its boundary).");
    private readonly Option<string> _device = Cli.DeviceOption();
    private readonly Option<int> _threads = Cli.ThreadsOption();
    private readonly Option<string?> _weights = new("--weights")
    {
        Description = $"Converted VGG weights (safetensors). Default: ${WeightsLocation.Variable} if set, else the " +
                      $"repository's weights/{WeightsLocation.FileName} if present, else {WeightsLocation.PerUser} " +
                      "(downloaded and converted on first use).",
    };

    // ---------------------------------------------------------------- colour, textures, output (issue 16)
    private readonly Option<string> _colorControl = KebabChoice("--color-control",
        "none; post-luminance (the result's luminance in the content's colours, as --original-colors); " +
        "luminance-only (optimize the luminance alone, recombined with the content's colours); match-style " +
        "(the style images' colours matched to the content's first).", Defaults.ColorControl);
    private readonly Option<string> _colorMatch = KebabChoice("--color-match",
        "With --color-control match-style: pca, chol or sym (linear maps that match mean and covariance), or " +
        "histogram (each channel's histogram).", Defaults.ColorMatch);
    private readonly Option<string?> _textureSize = new("--texture-size")
    {
        Description = "Without --content: the texture's WIDTHxHEIGHT (default: --size square).",
    };
    private readonly Option<string> _bitDepth = BitDepthOption();

    // ---------------------------------------------------------------- memory planning, tiles (issue 14)
    private readonly Option<long?> _maxMemory = PlanningOptions.MaxMemory();
    private readonly Option<int> _tileSize = PlanningOptions.TileSize();
    private readonly Option<bool> _dryRun = PlanningOptions.DryRun();

    public StyleOptionsParser(RootCommand root)
    {
        foreach (var option in new Option[]
                 {
                     _content, _style, _blend, _output, _size, _styleScale, _iterations, _minSize, _scaleRatio,
                     _schedule, _initialIterations, _averageDecay, _optimizer, _learningRate,
                     _history, _noLineSearch, _contentWeight, _styleWeight, _tvWeight, _contentLayers, _styleLayers,
                     _styleLayerWeights, _pooling, _normalize, _init, _initImage, _seed, _originalColors, _printEvery,
                     _saveEvery, _report, _tf32, _device, _threads, _weights,
                     _colorControl, _colorMatch, _textureSize, _bitDepth,
                     _contentMask, _contentMasks, _styleMasks, _maskMode,
                 })
        {
            root.Options.Add(option);
        }
        foreach (var option in new Option[] { _maxMemory, _tileSize, _dryRun }) root.Options.Add(option);
    }

    public RunOptions Read(ParseResult parse)
    {
        string? content = parse.GetValue(_content);
        var styles = StyleFiles(parse.GetValue(_style) ?? []);
        if (styles.Count == 0)
            throw new UsageException("--style is required: one or more paintings (comma-separated or repeated).");
        var schedule = parse.GetValue(_schedule) is { } text ? ScaleSchedule.Parse(text) : null;
        int size = parse.GetValue(_size);
        if (schedule is not null)
        {
            // The last scale is the result: --size may repeat it, not contradict it.
            if (parse.GetResult(_size) is { Implicit: false } && size != schedule[^1].Size)
            {
                throw new UsageException($"--schedule ends at {schedule[^1].Size} but --size is {size}: the last " +
                                         "scale is the result's size; leave --size out or make the two agree.");
            }
            size = schedule[^1].Size;
        }
        // Issue 16: a texture's --texture-size sets the run's size (its longer side).
        var textureSize = TextureSizeOf(parse, content, size);
        if (textureSize is { } texture) size = Math.Max(texture.Width, texture.Height);
        return Defaults with
        {
            Content = content,
            Styles = styles,
            Output = parse.GetValue(_output)!,
            Size = size,
            StyleScale = parse.GetValue(_styleScale)!.Value,
            Iterations = parse.GetValue(_iterations),
            MinSize = parse.GetValue(_minSize),
            ScaleRatio = parse.GetValue(_scaleRatio)!.Value,
            Schedule = schedule,
            InitialIterations = parse.GetValue(_initialIterations),
            AverageDecay = parse.GetValue(_averageDecay)!.Value,
            Optimizer = Parse<OptimizerKind>(parse.GetValue(_optimizer)!),
            LearningRate = parse.GetValue(_learningRate),
            Style = Defaults.Style with
            {
                ContentLayers = List([parse.GetValue(_contentLayers)!]),
                StyleLayers = List([parse.GetValue(_styleLayers)!]),
                StyleLayerWeights = NumberOptions.Weights(parse.GetValue(_styleLayerWeights), "--style-layer-weights"),
                ContentWeight = (float?)parse.GetValue(_contentWeight),
                StyleWeight = (float?)parse.GetValue(_styleWeight),
                TvWeight = (float?)parse.GetValue(_tvWeight),
                Pooling = Parse<Pooling>(parse.GetValue(_pooling)!),
                NormalizeGradients = parse.GetValue(_normalize),
                StyleBlendWeights = NumberOptions.Weights(parse.GetValue(_blend), "--style-blend-weights"),
            },
            Lbfgs = Defaults.Lbfgs with
            {
                HistorySize = parse.GetValue(_history),
                LineSearch = parse.GetValue(_noLineSearch) ? LineSearchKind.None : Defaults.Lbfgs.LineSearch,
            },
            Init = Parse<InitKind>(parse.GetValue(_init)!),
            InitImage = parse.GetValue(_initImage),
            Seed = parse.GetValue(_seed),
            Tf32 = parse.GetValue(_tf32),
            PrintEvery = parse.GetValue(_printEvery),
            SaveEvery = parse.GetValue(_saveEvery),
            Report = parse.GetValue(_report),
            Device = parse.GetValue(_device)!,
            Threads = parse.GetValue(_threads),
            Weights = parse.GetValue(_weights),
            ContentMasks = ContentMasks(parse),
            StyleMasks = parse.GetValue(_styleMasks) is { } styleMasks ? List([styleMasks]) : null,
            MaskMode = parse.GetValue(_maskMode) is { } mode ? Parse<MaskMode>(mode) : null,
            // Memory planning, tiles (issue 14).
            MaxMemory = parse.GetValue(_maxMemory),
            TileSize = parse.GetValue(_tileSize) is var side and not PlanningOptions.Auto ? side : null,
            DryRun = parse.GetValue(_dryRun),
        } with { ColorControl = ColorControlOf(parse), ColorMatch = ColorMatchOf(parse), BitDepth = BitDepthOf(parse),
                 TextureSize = textureSize, Init = InitOf(parse, content) };
    }

    // ---------------------------------------------------------------- colour, textures, output (issue 16)

    /// <summary><c>--color-control</c>, and <c>--original-colors</c> as its <c>post-luminance</c>; the two
    /// given with different meanings is an error.</summary>
    private ColorControl ColorControlOf(ParseResult parse)
    {
        var control = KebabParse<ColorControl>(parse.GetValue(_colorControl)!);
        if (!parse.GetValue(_originalColors)) return control;
        if (parse.GetResult(_colorControl) is { Implicit: false } && control != ColorControl.PostLuminance)
        {
            throw new UsageException($"--original-colors means --color-control post-luminance, but --color-control " +
                                     $"is {StyleRun.Name(control)}: give one of the two.");
        }
        return ColorControl.PostLuminance;
    }

    /// <summary><c>--color-match</c>, which only <c>--color-control match-style</c> uses.</summary>
    private ColorMatchMethod ColorMatchOf(ParseResult parse)
    {
        var method = KebabParse<ColorMatchMethod>(parse.GetValue(_colorMatch)!);
        if (parse.GetResult(_colorMatch) is { Implicit: false }
            && KebabParse<ColorControl>(parse.GetValue(_colorControl)!) != ColorControl.MatchStyle)
        {
            throw new UsageException("--color-match is used only with --color-control match-style; add that or " +
                                     "leave --color-match out.");
        }
        return method;
    }

    private int BitDepthOf(ParseResult parse) => int.Parse(parse.GetValue(_bitDepth)!, CultureInfo.InvariantCulture);

    private static Option<string> BitDepthOption()
    {
        var option = new Option<string>("--bit-depth")
        {
            Description = "Bits per sample of the PNG output and snapshots: 8 or 16 (16: written from the " +
                          "unrounded result).",
            DefaultValueFactory = _ => Defaults.BitDepth.ToString(CultureInfo.InvariantCulture),
        };
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count == 0) return; // the default
            string value = result.Tokens[^1].Value;
            if (value is not ("8" or "16")) result.AddError($"--bit-depth takes 8 or 16; '{value}' is not one.");
        });
        return option;
    }

    /// <summary>
    /// <c>--texture-size WxH</c> (only without <c>--content</c>); its longer side is the run's <c>--size</c>,
    /// which may repeat it but not contradict it.
    /// </summary>
    private (int Width, int Height)? TextureSizeOf(ParseResult parse, string? content, int size)
    {
        if (parse.GetValue(_textureSize) is not { } text) return null;
        if (content is not null)
        {
            throw new UsageException("--texture-size is for a texture (no --content); with a content image the " +
                                     "result takes the content's shape and --size its longer side.");
        }
        var parts = text.Split('x', 'X');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int w)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int h) || w < 1 || h < 1)
        {
            throw new UsageException($"--texture-size takes WIDTHxHEIGHT in pixels, e.g. 512x384; '{text}' is not " +
                                     "that.");
        }
        int longer = Math.Max(w, h);
        if ((parse.GetResult(_size) is { Implicit: false } || parse.GetValue(_schedule) is not null) && size != longer)
        {
            throw new UsageException($"--texture-size {w}x{h} has the longer side {longer} but the run's size is " +
                                     $"{size} (--size or --schedule): make the two agree or leave --size out.");
        }
        return (w, h);
    }

    /// <summary><c>--init</c>; a texture (no content) starts from noise unless told otherwise.</summary>
    private InitKind InitOf(ParseResult parse, string? content) =>
        content is null && parse.GetResult(_init) is null or { Implicit: true }
            ? InitKind.Random
            : Parse<InitKind>(parse.GetValue(_init)!);

    /// <summary>An option whose values are an enum's members in kebab case (<c>post-luminance</c>).</summary>
    private static Option<string> KebabChoice<T>(string name, string description, T defaultValue)
        where T : struct, Enum
    {
        var option = new Option<string>(name)
        {
            Description = description, DefaultValueFactory = _ => StyleRun.Name(defaultValue),
        };
        AcceptOnly(option, Enum.GetValues<T>().Select(v => StyleRun.Name(v)).ToArray());
        return option;
    }

    private static T KebabParse<T>(string name) where T : struct, Enum =>
        Enum.Parse<T>(name.Replace("-", "", StringComparison.Ordinal), ignoreCase: true);

    // ---------------------------------------------------------------- regions (issue 16)

    /// <summary><c>--content-mask FILE</c> or <c>--content-masks M1,M2,...</c> (not both), or null.</summary>
    private List<string>? ContentMasks(ParseResult parse)
    {
        string? single = parse.GetValue(_contentMask), several = parse.GetValue(_contentMasks);
        if (single is not null && several is not null)
        {
            throw new UsageException("Give --content-mask (one style image) or --content-masks (one mask per " +
                                     "style image), not both.");
        }
        return single is not null ? [single] : several is not null ? List([several]) : null;
    }

    /// <summary>An option whose values are an enum's members in lower case, with no default value.</summary>
    private static Option<string?> ChoiceWithoutDefault<T>(string name, string description) where T : struct, Enum
    {
        var option = new Option<string?>(name) { Description = description };
        AcceptOnly(option, Enum.GetValues<T>().Select(Name).ToArray());
        return option;
    }

    /// <summary>An option whose values are an enum's members in lower case, in declaration order.</summary>
    private static Option<string> Choice<T>(string name, string description, T defaultValue)
        where T : struct, Enum
    {
        var option = new Option<string>(name)
        {
            Description = description, DefaultValueFactory = _ => Name(defaultValue),
        };
        AcceptOnly(option, Enum.GetValues<T>().Select(Name).ToArray());
        return option;
    }

    private static string Name<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    /// <summary>
    /// Restricts <paramref name="option"/> to <paramref name="names"/> with the project's one-line message
    /// (<c>--pooling takes max or avg; 'foo' is not one.</c>), not System.CommandLine's tab-separated list.
    /// </summary>
    private static void AcceptOnly(Option option, string[] names)
    {
        string expected = names.Length == 1 ? names[0] : string.Join(", ", names[..^1]) + " or " + names[^1];
        option.HelpName = string.Join("|", names.Order(StringComparer.Ordinal)); // --pooling <avg|max>
        option.CompletionSources.Add(names);
        option.Validators.Add(result =>
        {
            foreach (var token in result.Tokens.Where(t => !names.Contains(t.Value, StringComparer.Ordinal)))
            {
                result.AddError($"{option.Name} takes {expected}; '{token.Value}' is not one.");
                return;
            }
        });
    }

    private static T Parse<T>(string name) where T : struct, Enum => Enum.Parse<T>(name, ignoreCase: true);

    private static string Describe(LineSearchKind kind) => kind switch
    {
        LineSearchKind.StrongWolfe => "strong Wolfe line search",
        LineSearchKind.Armijo => "Armijo backtracking line search",
        _ => "no line search",
    };

    /// <summary>
    /// A loss weight's defaults for both conventions: the torchvision one is the caffe one times
    /// <see cref="LossWeights.TorchvisionScale"/> to the power the term scales with (see
    /// <see cref="LossWeights.Torchvision"/>).
    /// </summary>
    private static string WeightDefaults(float caffe, int power) =>
        $"default {Number(caffe)} for caffe weights, {Number(caffe)}*{Number(LossWeights.TorchvisionScale)}^{power} " +
        "for torchvision weights";

    /// <summary>A default as the help shows it: <c>5</c>, <c>58</c>, <c>1e-3</c>.</summary>
    private static string Number(double value) => value is > 0 and < 0.01
        ? value.ToString("0.###e0", CultureInfo.InvariantCulture)
        : value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A loss weight: a float, 0 or more; left out, the weights' convention chooses.</summary>
    private static Option<double?> LossWeight(string name, string description) =>
        NumberOptions.Real(name, description, zeroAllowed: true, maximum: float.MaxValue);

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
