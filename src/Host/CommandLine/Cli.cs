using System.CommandLine;
using System.Globalization;
using IlgpuStyle.Kernels;
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
        root.SetAction(parse => Guarded(error, () => StyleRun.Execute(run.Read(parse), output, live, interruption)));
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
        var algorithm = DeviceOptions.ConvAlgorithm();
        // Memory planning and tiling: a tiled evaluation timed against the untiled one.
        var tileSize = PlanningOptions.TileSize(
            "Also time a tiled evaluation of the same image, tile cores of N x N pixels (rounded to the stride, " +
            "16), against the untiled one. [default: auto, untiled only]");
        var command = new Command("bench",
            "Time one loss evaluation (forward + backward) of VGG-19 per image size, with a per-layer table, " +
            "TFLOP/s and peak device memory.");
        var threads = DeviceOptions.Threads();
        foreach (var option in new Option[]
                 {
                     device, sizes, iterations, warmup, divisor, json, tf32, algorithm, threads, tileSize,
                 })
        {
            command.Options.Add(option);
        }
        command.SetAction(parse => Guarded(error, () => Bench.Run(output, parse.GetValue(device)!,
            parse.GetValue(sizes)!, parse.GetValue(iterations), parse.GetValue(warmup), parse.GetValue(divisor),
            parse.GetValue(json), parse.GetValue(tf32), ChoiceOptions.Parse<ConvAlgorithm>(parse.GetValue(algorithm)!),
            parse.GetValue(threads),
            parse.GetValue(tileSize) is var side and not PlanningOptions.Auto ? side : null)));
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
        TextOptions.RefuseEmpty(kernel, "a kernel name");
        TextOptions.RefuseEmpty(folder, "a folder");
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

