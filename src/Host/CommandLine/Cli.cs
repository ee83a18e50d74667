using System.CommandLine;
using System.Globalization;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Tuning;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Optimization;
using IlgpuStyle.Weights;
using IlgpuStyle.Weights.Files;

namespace IlgpuStyle.Host;

/// <summary>
/// The command line of <c>ilgpu-style</c>: the commands, their options, and the one place where
/// errors a user can fix become a one-line message and a non-zero exit code.
/// </summary>
internal static class Cli
{
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
        root.SetAction(parse => Guarded(error, () => StyleRun.Execute(run.Read(parse), output, live, interruption,
            error)));
        root.Subcommands.Add(BatchCommand(output, error, live, interruption));
        root.Subcommands.Add(VideoCommand(output, error, interruption));
        root.Subcommands.Add(DevicesCommand(output, error));
        root.Subcommands.Add(VerifyCommand(output, error));
        root.Subcommands.Add(BenchCommand(output, error));
        root.Subcommands.Add(PtxCommand(output, error));

        // Every message of ilgpu-style is English with invariant numbers, as the parser reads them, so
        // System.CommandLine's own messages and the help's defaults are too: under a German culture the help would
        // otherwise show "[default: 1,41421356]", which the parser then refuses, half in German.
        var (culture, uiCulture) = (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture);
        CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
        try
        {
            var parsed = root.Parse(args);
            if (parsed.Errors.Count > 0)
            {
                error.WriteLine($"error: {OneLine(parsed.Errors[0].Message)} See 'ilgpu-style --help'.");
                return ExitCodes.Usage;
            }
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error });
        }
        finally
        {
            (CultureInfo.CurrentCulture, CultureInfo.CurrentUICulture) = (culture, uiCulture);
        }
    }

    private static Command BatchCommand(TextWriter output, TextWriter error, bool live, Interruption? interruption)
    {
        var manifest = new Option<string?>("--manifest")
        {
            Description = "A CSV file: a header 'content,style,output[,options]', then one image per row (paths " +
                          "relative to the manifest; options: more of the main job's options for that row).",
        };
        var inputs = new Option<string[]>("--inputs")
        {
            Description = "Content images or patterns (photos/*.jpg), each written to --output-dir under its own " +
                          "name; instead of --manifest.",
            AllowMultipleArgumentsPerToken = true,
        };
        var folder = new Option<string?>("--output-dir")
        {
            Description = "Where the outputs go (with --inputs; with --manifest, what its relative outputs are " +
                          "relative to).",
        };
        var format = new Option<string>("--output-format")
        {
            Description = "With --inputs: the outputs' format, png or jpg.", DefaultValueFactory = _ => "png",
        };
        format.AcceptOnlyFromAmong("png", "jpg");
        var shard = new Option<string?>("--shard")
        {
            Description = "INDEX/COUNT: render only shard INDEX (from 0) of COUNT, item i going to shard " +
                          "i mod COUNT. Left out: from SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or " +
                          "AWS_BATCH_JOB_ARRAY_INDEX.",
        };
        var shardCount = NumberOptions.OptionalWhole("--shard-count",
            "How many shards (default: the scheduler's array size; a Kubernetes Indexed Job needs this or " +
            $"{Shard.CountVariable}). With it, the scheduler's index is taken as it is.", minimum: 1);
        var verbose = new Option<bool>("--verbose") { Description = "Print each image's run as the main job does." };
        foreach (var option in new Option[] { manifest, folder, shard }) TextOptions.RefuseEmpty(option);
        var command = new Command("batch",
            "Render many images in one process: the weights, the device and its kernels are loaded once. Every " +
            "option of the main job (--style, --size, --iterations, --seed, --weights, --device, ...) applies to " +
            "each image. An output that exists is skipped, so a stopped batch resumes; a failed image is reported " +
            "and the others go on (exit code 1 when any failed).")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        foreach (var option in new Option[] { manifest, inputs, folder, format, shard, shardCount, verbose })
            command.Options.Add(option);
        command.SetAction(parse => Guarded(error, () =>
        {
            string? list = parse.GetValue(manifest);
            var patterns = parse.GetValue(inputs) ?? [];
            string? outputs = parse.GetValue(folder);
            if ((list is null) == (patterns.Length == 0))
                throw new UsageException("Give either --manifest FILE or --inputs PATTERN... (not both).");
            if (list is null && outputs is null)
                throw new UsageException("--inputs needs --output-dir: the folder the outputs go to.");
            var options = new BatchOptions(list, patterns, outputs, "." + parse.GetValue(format), parse.GetValue(shard),
                parse.GetValue(shardCount), parse.GetValue(verbose), parse.UnmatchedTokens.ToList());
            return BatchRun.Execute(options, output, error, live, interruption);
        }));
        return command;
    }

    private static Command VideoCommand(TextWriter output, TextWriter error, Interruption? interruption)
    {
        var input = new Option<string>("--input")
        {
            Description = "The video: a file (.avi, .mp4, ... as FFmpeg reads it) or a folder of frames (PNG or " +
                          "JPEG, in the order of their names).",
            Required = true,
        };
        var video = new Option<string?>("--output")
        {
            Description = "The stylised video, .avi (Motion JPEG) or .mp4, assembled when every frame is rendered.",
        };
        var frames = new Option<string?>("--frames-dir")
        {
            Description = "Where the stylised frames go, frame_00001.png, ... (default: the output's name with " +
                          "_frames). A frame that exists is kept and skipped, so a stopped run resumes.",
        };
        var temporal = NumberOptions.Real("--temporal-weight",
            "w_t of the temporal loss (Ruder et al. 2016): how strongly frame t keeps to frame t - 1 warped by the " +
            "optical flow where the flow is reliable; default 1e3 for caffe weights, 1e3*58^2 for torchvision " +
            "weights (Ruder et al.'s 1e3 with our loss normalisation); 0 stylises each frame on its own from the " +
            "warped frame before.",
            RealRange.NonNegative, maximum: float.MaxValue);
        var longTerm = NumberOptions.Whole("--long-term",
            "How many previous frames hold frame t in place (Ruder et al.'s long-term consistency: each pixel keeps " +
            "to the nearest of them that saw it reliably); 1 is the short-term loss.", 1, minimum: 1);
        var warmup = NumberOptions.Whole("--warmup-frames",
            "With shards: frames a shard renders before its chunk and discards, so that the chunk's frames are past " +
            "the settling of a run's first frames (a seam remains: README, 'Video').", 4, minimum: 0);
        var join = new Option<bool>("--join")
        {
            Description = "Only assemble --output from the frames in --frames-dir (after every shard has finished).",
        };
        var shard = new Option<string?>("--shard")
        {
            Description = "INDEX/COUNT: render only chunk INDEX (from 0) of COUNT contiguous chunks of the frames. " +
                          "Left out: from SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX.",
        };
        var shardCount = NumberOptions.OptionalWhole("--shard-count",
            "How many shards (default: the scheduler's array size; a Kubernetes Indexed Job needs this or " +
            $"{Shard.CountVariable}).", minimum: 1);
        var verbose = new Option<bool>("--verbose") { Description = "Print each frame's run as the main job does." };
        foreach (var option in new Option[] { input, video, frames, shard }) TextOptions.RefuseEmpty(option);
        var command = new Command("video",
            "Stylise a video with temporal consistency (Ruder et al. 2016): frame t starts from frame t - 1's result " +
            "warped by the optical flow and is held near it where the flow is reliable. Every option of the main " +
            "job (--style, --size, --iterations, --optimizer, --weights, --device, ...) applies to each frame; the " +
            "weights, device and kernels load once. Exit code 1 when a frame failed or the input has frames that " +
            "cannot be used.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        foreach (var option in new Option[] { input, video, frames, temporal, longTerm, warmup, join, shard,
                     shardCount, verbose })
            command.Options.Add(option);
        command.SetAction(parse => Guarded(error, () =>
        {
            var options = new VideoOptions(parse.GetValue(input)!, parse.GetValue(video), parse.GetValue(frames),
                (float?)parse.GetValue(temporal), parse.GetValue(longTerm), parse.GetValue(warmup),
                parse.GetValue(join), parse.GetValue(shard), parse.GetValue(shardCount), parse.GetValue(verbose),
                parse.UnmatchedTokens.ToList());
            return VideoRun.Execute(options, output, error, interruption);
        }));
        return command;
    }

    private static Command DevicesCommand(TextWriter output, TextWriter error)
    {
        var command = new Command("devices",
            "List the accelerators ILGPU can use (type, name, memory, compute units).");
        command.SetAction(_ => Guarded(error, () => DeviceList.Print(output)));
        return command;
    }

    private static Command VerifyCommand(TextWriter output, TextWriter error)
    {
        var device = DeviceOptions.Device();
        var filter = new Option<string?>("--kernel")
        {
            Description = "Run only the checks whose kernel name starts with this (e.g. conv2d, gram.backward).",
        };
        TextOptions.RefuseEmpty(filter, "a kernel name");
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
        var device = DeviceOptions.Device();
        var sizes = NumberOptions.WholeList("--size", "Image sizes (N x N) to time; repeat for several.", [512],
            minimum: 1);
        var iterations = NumberOptions.Whole("--iterations", "Timed evaluations per size.", 10, minimum: 1);
        var warmup = NumberOptions.Whole("--warmup", "Untimed evaluations first (kernel compilation, caches).", 2,
            minimum: 0);
        var divisor = NumberOptions.Whole("--width-divisor",
            "Divide VGG-19's channel counts by this (for quick runs on the CPU accelerator).", 1, minimum: 1);
        var json = new Option<string?>("--json") { Description = "Also write the results as JSON to this file." };
        TextOptions.RefuseEmpty(json);
        var tf32 = DeviceOptions.Tf32();
        var tune = DeviceOptions.Tune();
        var sweep = new Option<bool>("--sweep")
        {
            Description = "Instead of timing evaluations: every kernel variant of every convolution layer, both " +
                          "directions, checked against the reference variant and timed, in one table (ms, GFLOP/s, " +
                          "correct or not; the rule's and the fastest correct variant marked).",
        };
        var algorithm = DeviceOptions.ConvAlgorithm();
        // Memory planning and tiling: a tiled evaluation timed against the untiled one.
        var tileSize = PlanningOptions.TileSize(
            "Also time a tiled evaluation of the same image, tile cores of N x N pixels (rounded to the stride, " +
            "16), against the untiled one. [default: auto, untiled only]");
        var styleLoss = ChoiceOptions.Of("--style-loss",
            "The objective timed: gram or w2, each with the main job's defaults for it (layers and weights).",
            StyleLossKind.Gram);
        var command = new Command("bench",
            "Time one loss evaluation (forward + backward) of VGG-19 per image size, with a per-layer table, " +
            "TFLOP/s and peak device memory.");
        var threads = DeviceOptions.Threads();
        foreach (var option in new Option[]
                 {
                     device, sizes, iterations, warmup, divisor, json, tf32, algorithm, tune, sweep, threads, tileSize,
                     styleLoss,
                 })
        {
            command.Options.Add(option);
        }
        command.SetAction(parse => Guarded(error, () => Bench.Run(output, parse.GetValue(device)!,
            parse.GetValue(sizes)!, parse.GetValue(iterations), parse.GetValue(warmup), parse.GetValue(divisor),
            parse.GetValue(json), parse.GetValue(tf32), ChoiceOptions.Parse<ConvAlgorithm>(parse.GetValue(algorithm)!),
            parse.GetValue(threads),
            parse.GetValue(tileSize) is var side and not PlanningOptions.Auto ? side : null,
            ChoiceOptions.Parse<TuningMode>(parse.GetValue(tune)!), parse.GetValue(sweep),
            ChoiceOptions.Parse<StyleLossKind>(parse.GetValue(styleLoss)!))));
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
        var sass = new Option<bool>("--sass")
        {
            Description = "Also write NAME.sass, the machine code the GPU runs (sm_90): the PTX assembled by " +
                          "NVIDIA's ptxas and disassembled by cuobjdump or nvdisasm, found in $CUDA_HOME/bin or on " +
                          "PATH.",
        };
        TextOptions.RefuseEmpty(kernel, "a kernel name");
        TextOptions.RefuseEmpty(folder, "a folder");
        var command = new Command("ptx",
            "Write the PTX ILGPU generates for the kernels (as a CUDA device receives it), one file per kernel; " +
            "no GPU needed.");
        command.Options.Add(kernel);
        command.Options.Add(folder);
        command.Options.Add(sass);
        command.SetAction(parse => Guarded(error,
            () => PtxExport.Run(output, parse.GetValue(kernel), parse.GetValue(folder)!, parse.GetValue(sass))));
        return command;
    }

    /// <summary>
    /// Runs a command body; errors the user can act on print one line (no stack trace) and return
    /// <see cref="ExitCodes.Usage"/>.
    /// </summary>
    internal static int Guarded(TextWriter error, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is UsageException or DeviceSelectionException or StyleSetupException
                                      or WeightsFormatException or ConverterException or OutputPathException)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return ExitCodes.Usage;
        }
        catch (RunFailedException e)
        {
            error.WriteLine($"error: {OneLine(e.Message)}");
            return ExitCodes.Failed;
        }
        catch (ILGPU.Runtime.AcceleratorException e)
        {
            error.WriteLine($"error: the device failed ({OneLine(e.Message)}). If it ran out of memory, " +
                            "use a smaller --size; else check the driver, or use --device cpu.");
            return ExitCodes.Usage;
        }
        catch (OutOfMemoryException)
        {
            error.WriteLine("error: out of memory. Use a smaller --size or --lbfgs-history, or --optimizer adam.");
            return ExitCodes.Usage;
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}

