using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Tuning;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Optimization;
using IlgpuStyle.Weights.Files;

namespace IlgpuStyle.Host;

/// <summary>One timed piece of an evaluation (a layer's forward or backward, a loss tap, ...).</summary>
internal sealed record BenchPiece(
    [property: JsonPropertyName("piece")] string Piece,
    [property: JsonPropertyName("shape")] string Shape,
    [property: JsonPropertyName("ms")] double Ms,
    [property: JsonPropertyName("gflop")] double Gflop,
    [property: JsonPropertyName("gflops_per_s")] double GflopsPerSecond,
    [property: JsonPropertyName("share")] double Share);

/// <summary>A tiled evaluation of the same image (<c>bench --tile-size</c>), against the untiled one.</summary>
internal sealed record BenchTiled(
    [property: JsonPropertyName("grid")] int[] Grid,
    [property: JsonPropertyName("core")] int Core,
    [property: JsonPropertyName("halo")] int Halo,
    [property: JsonPropertyName("ms_per_evaluation")] double MsPerEvaluation,
    [property: JsonPropertyName("relative_time")] double RelativeTime,
    [property: JsonPropertyName("relative_flops")] double RelativeFlops,
    [property: JsonPropertyName("objective_bytes")] long ObjectiveBytes,
    [property: JsonPropertyName("untiled_objective_bytes")] long UntiledObjectiveBytes);

/// <summary>The bench result for one image size.</summary>
internal sealed record BenchSize(
    [property: JsonPropertyName("size")] int Size,
    [property: JsonPropertyName("evaluations")] int Evaluations,
    [property: JsonPropertyName("ms_per_evaluation")] double MsPerEvaluation,
    [property: JsonPropertyName("gflop_per_evaluation")] double GflopPerEvaluation,
    [property: JsonPropertyName("tflops_per_s")] double TflopsPerSecond,
    [property: JsonPropertyName("peak_device_bytes")] long PeakDeviceBytes,
    [property: JsonPropertyName("pieces")] IReadOnlyList<BenchPiece> Pieces,
    [property: JsonPropertyName("tiled"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    BenchTiled? Tiled = null);

/// <summary>What <c>bench --json</c> writes.</summary>
internal sealed record BenchReport(
    [property: JsonPropertyName("device")] string Device,
    [property: JsonPropertyName("date")] string Date,
    [property: JsonPropertyName("width_divisor")] int WidthDivisor,
    [property: JsonPropertyName("sizes")] IReadOnlyList<BenchSize> Sizes);

/// <summary>
/// <c>ilgpu-style bench</c>: times one loss evaluation (forward to relu5_1 and backward, with
/// SPEC.md's default layers) of VGG-19 on random weights and random images, as the PyTorch peer
/// (<c>torch_peer.py bench</c>) does, with device-side timing. Prints a table per piece (kernel, shape,
/// ms, GFLOP/s, share of the total), ms per evaluation, achieved TFLOP/s and peak device bytes
/// (with L-BFGS's history of 100, as a real run holds it). With <c>--tile-size N</c> it also times a tiled
/// evaluation of the same image and weights (the same loss and gradient) against the untiled one. With
/// <c>--style-loss w2</c> the objective is the Wasserstein-2 loss with its own defaults (layers and weights, as
/// <see cref="StyleOptions"/> resolves them for the main job), and each tap's root shows as its own pieces.
/// </summary>
internal static class Bench
{
    /// <summary>Runs the bench (every option's range checked by its parser); returns the exit code.</summary>
    public static int Run(TextWriter output, string deviceRequest, IReadOnlyList<int> sizes, int iterations, int warmup,
        int widthDivisor, string? jsonPath, bool tf32, ConvAlgorithm algorithm, int threads, int? tileSize = null,
        TuningMode tune = TuningMode.Auto, bool sweep = false, StyleLossKind styleLoss = StyleLossKind.Gram)
    {
        // The main job's rule (RunPlanner): an image reaches a layer when its shorter side is at least the layer's
        // stride; the bench runs the default layers, down to relu5_1 (16).
        var defaults = new StyleOptions { StyleLoss = styleLoss };
        string deepest = VggArchitecture.Vgg19.Deepest([.. defaults.ContentLayers, .. defaults.StyleLayers]);
        int minimum = VggArchitecture.Vgg19.Stride(deepest);
        if (sizes.FirstOrDefault(s => s < minimum) is var small and > 0)
        {
            throw new UsageException($"--size {small} is too small to reach {deepest}: an image's side must be at " +
                                     $"least {minimum} pixels.");
        }
        if (VggArchitecture.BlockChannels.Any(c => c % widthDivisor != 0))
            throw new UsageException("--width-divisor must divide 64 (1, 2, 4, 8, 16, 32 or 64).");
        // Checked like every file the program writes, before minutes of timing: a new or regular file in an existing
        // folder (not a folder, a device or a link), written atomically at the end.
        if (jsonPath is not null) OutputFiles.Check([("JSON file (--json)", jsonPath)], []);

        using var context = Devices.CreateContext(profiling: true);
        var device = Devices.Select(context, deviceRequest);
        using var accelerator = device.CreateAccelerator(context);
        var rule = new KernelChoice(AcceleratorDescription.Of(device), tf32, algorithm: algorithm);
        var weights = RandomVgg19(widthDivisor, seed: 0);
        string deviceName = $"{accelerator.AcceleratorType} {accelerator.Name.Trim()}{(tf32 ? " (TF32)" : "")}";
        if (sweep)
        {
            using var ruleKernels = new KernelSet(accelerator, rule, threads);
            var report = Sweep.Run(output, ruleKernels, weights, sizes, deviceName, widthDivisor);
            if (jsonPath is not null) WriteJson(output, jsonPath, report);
            return 0;
        }
        // --tune: every convolution shape the sizes (and their tiles) run, timed or read from the cache, first.
        var choice = LayerTuning.Tune(accelerator, rule, sizes.SelectMany(size =>
        {
            var shape = new ChwShape(3, size, size);
            var whole = Plan(rule, weights, shape, tileCore: null, defaults);
            var tiled = tileSize is { } side ? Plan(rule, weights, shape, TileCore(whole, side), defaults) : null;
            return whole.ConvShapes().Concat(tiled?.ConvShapes() ?? []);
        }), tune, threads, output);
        using var kernels = new KernelSet(accelerator, choice, threads);
        output.WriteLine($"Bench on {deviceName}: " +
                         $"VGG-19{(widthDivisor > 1 ? $" with channels / {widthDivisor}" : "")}, random weights, " +
                         $"{warmup} warm-up + {iterations} timed evaluations per size" +
                         (styleLoss == StyleLossKind.W2 ? ", the Wasserstein-2 style loss (--style-loss w2)" : ""));

        var results = new List<BenchSize>();
        foreach (int size in sizes)
        {
            var result = RunSize(output, kernels, weights, size, iterations, warmup, defaults);
            if (tileSize is { } side)
                result = result with { Tiled = RunTiled(output, kernels, weights, result, side, warmup, defaults) };
            results.Add(result);
        }

        if (jsonPath is not null)
        {
            string date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            WriteJson(output, jsonPath, new BenchReport(deviceName, date, widthDivisor, results));
        }
        return 0;
    }

    /// <summary>Writes <paramref name="report"/> (a bench's or a sweep's) as every output is: atomically, into the
    /// path checked before the timing.</summary>
    private static void WriteJson<T>(TextWriter output, string jsonPath, T report)
    {
        string full = FileIdentity.OutputPath(jsonPath); // where the check looked
        string temp = full + $".{Environment.ProcessId}.tmp";
        try
        {
            File.WriteAllText(temp, JsonSerializer.Serialize(report,
                new JsonSerializerOptions { WriteIndented = true }));
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RunFailedException($"could not write the JSON file '{jsonPath}' " +
                                         $"({e.Message.TrimEnd('.')}); the results are printed above.");
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        output.WriteLine($"wrote {jsonPath}");
    }

    private static BenchSize RunSize(TextWriter output, KernelSet kernels, VggWeights weights, int size,
        int iterations, int warmup, StyleOptions style)
    {
        var accelerator = kernels.Accelerator;
        var shape = new ChwShape(3, size, size);
        var plan = Plan(kernels.Choice, weights, shape, tileCore: null, style);
        var memory = plan.Memory ?? throw new UsageException($"--size {size} makes tensors of more than 2^31 " +
                                                             "elements, which the kernels cannot index.");
        // What the bench allocates (objective, x, gradient, loss), checked like a run's; the peak it
        // reports is a default run's (L-BFGS history 100) at this size.
        long benchBytes = memory.Total + 2L * sizeof(float) * shape.Length + sizeof(float);
        if (accelerator.AcceleratorType != AcceleratorType.CPU && benchBytes > (long)(accelerator.MemorySize * 0.9))
        {
            throw new UsageException($"--size {size} needs about {DeviceList.FormatBytes(benchBytes)} " +
                                     $"but the device has {DeviceList.FormatBytes(accelerator.MemorySize)}.");
        }
        long peak = PlannedBytes.Of(memory, RunVectors.Of(DefaultRun, shape.Length)).Total;

        using var objective = StyleObjectives.Create(plan, kernels, weights, Images(shape));
        using var evaluations = new Evaluations(objective, shape);
        using var profiler = new LayerProfiler(accelerator);
        double msPerEvaluation = evaluations.MsPerEvaluation(profiler, warmup, iterations);

        // The same evaluations with a marker before every piece, for the breakdown.
        evaluations.Run(iterations, profiler);
        var pieces = profiler.Collect();
        double piecesMs = pieces.Sum(p => p.Time.TotalMilliseconds) / iterations;

        var rows = new List<BenchPiece>();
        foreach (var (label, time) in pieces)
        {
            double ms = time.TotalMilliseconds / iterations;
            var (flop, shapeText) = Work(label, shape, weights);
            rows.Add(new BenchPiece(label, shapeText, ms, flop / 1e9, ms > 0 ? flop / 1e6 / ms : 0, ms / piecesMs));
        }
        double gflop = rows.Sum(r => r.Gflop);
        // GFLOP per millisecond is TFLOP per second.
        var result = new BenchSize(size, iterations, msPerEvaluation, gflop, gflop / msPerEvaluation, peak, rows);

        output.WriteLine();
        output.WriteLine($"size {size}x{size}");
        TextTable.Write(output, ["piece", "shape", "ms", "GFLOP/s", "share"], rows.Select(r => new[]
        {
            r.Piece, r.Shape, Format(r.Ms, "0.000"), r.Gflop > 0 ? Format(r.GflopsPerSecond, "0.0") : "-",
            Format(100 * r.Share, "0.0") + "%",
        }).ToList());
        output.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "(the pieces add up to {0:0.000} ms: each is timed alone, between markers that wait for the device; the " +
            "evaluation below is timed whole, without them, so the two differ)", piecesMs));
        output.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "{0:0.000} ms per evaluation, {1:0.000} GFLOP per evaluation, {2:0.0000} TFLOP/s, " +
            "peak device bytes {3} ({4}, L-BFGS history 100)",
            msPerEvaluation, gflop, result.TflopsPerSecond, peak, DeviceList.FormatBytes(peak)));
        return result;
    }

    /// <summary>
    /// Times whole tiled evaluations of the image <see cref="RunSize"/> timed untiled (the same weights, images and
    /// evaluations), with cores of <paramref name="side"/> pixels rounded to the stride as the main job rounds
    /// <c>--tile-size</c>.
    /// </summary>
    private static BenchTiled RunTiled(TextWriter output, KernelSet kernels, VggWeights weights, BenchSize untiled,
        int side, int warmup, StyleOptions style)
    {
        var shape = new ChwShape(3, untiled.Size, untiled.Size);
        var wholePlan = Plan(kernels.Choice, weights, shape, tileCore: null, style);
        int core = TileCore(wholePlan, side);
        var plan = Plan(kernels.Choice, weights, shape, core, style);
        var tiles = plan.Tiles
            ?? throw new UsageException($"--tile-size {side}: one tile of {core} px covers the {untiled.Size} px " +
                                        "image (with its halo); use a smaller --tile-size or a larger --size.");
        using var objective = StyleObjectives.Create(plan, kernels, weights, Images(shape));
        using var evaluations = new Evaluations(objective, shape);
        using var profiler = new LayerProfiler(kernels.Accelerator);
        double ms = evaluations.MsPerEvaluation(profiler, warmup, untiled.Evaluations);

        var grid = tiles.Grid;
        long bytes = plan.Memory!.Total;
        long whole = wholePlan.Memory!.Total;
        var result = new BenchTiled([grid.Rows, grid.Columns], grid.Core, grid.Halo, ms, ms / untiled.MsPerEvaluation,
            tiles.RelativeTime, bytes, whole);
        output.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "tiled {0}x{1} (core {2}, halo {3}, tiles of {4}x{5}): {6:0.000} ms per evaluation, {7:0.00}x untiled " +
            "({8:0.00}x by FLOPs); objective {9} instead of {10}",
            grid.Rows, grid.Columns, grid.Core, grid.Halo, grid.LargestTile.Width, grid.LargestTile.Height, ms,
            result.RelativeTime, result.RelativeFlops, DeviceList.FormatBytes(bytes), DeviceList.FormatBytes(whole)));
        return result;
    }

    /// <summary>A run with every option left out: the peak a bench reports is such a run's.</summary>
    private static readonly RunOptions DefaultRun = new() { Content = null, Styles = [] };

    /// <summary>The objective the bench times: SPEC.md's default loss (or <paramref name="style"/>'s: the W2 loss
    /// with its defaults) on a content and a style image of one shape, whole or in tiles of
    /// <paramref name="tileCore"/>.</summary>
    internal static ObjectivePlan Plan(KernelChoice kernels, VggWeights weights, ChwShape shape, int? tileCore,
        StyleOptions? style = null) =>
        ObjectivePlan.Build(LossPlan.Build(weights, style ?? new StyleOptions(), styleCount: 1), weights, kernels,
            shape, [shape], tileCore);

    /// <summary>Tile cores of <paramref name="side"/> pixels rounded to the stride, as the main job rounds
    /// <c>--tile-size</c>.</summary>
    private static int TileCore(ObjectivePlan whole, int side) => RunPlanner.RoundToStride(side, whole.Loss.Stride);

    /// <summary>The random content and style images every evaluation of a size uses.</summary>
    private static ObjectiveImages Images(ChwShape shape) => new(RandomImage(shape, 1), [RandomImage(shape, 2)]);

    /// <summary>An objective's evaluations at one random x, with x, its gradient and the loss on the device.</summary>
    private sealed class Evaluations(IStyleObjective objective, ChwShape shape) : IDisposable
    {
        private readonly MemoryBuffer1D<float, Stride1D.Dense> _x =
            objective.Memory.Accelerator.Allocate1D(RandomImage(shape, 3).Data);
        private readonly MemoryBuffer1D<float, Stride1D.Dense> _gradient =
            objective.Memory.Accelerator.Allocate1D<float>(shape.Length);
        private readonly MemoryBuffer1D<float, Stride1D.Dense> _loss =
            objective.Memory.Accelerator.Allocate1D<float>(1);

        /// <summary>Queues <paramref name="count"/> evaluations, each piece marked on <paramref name="profiler"/> when
        /// one is given.</summary>
        public void Run(int count, LayerProfiler? profiler = null)
        {
            for (int i = 0; i < count; i++) objective.Evaluate(_x.View, _gradient.View, _loss.View, profiler);
        }

        /// <summary>
        /// <paramref name="warmup"/> evaluations untimed, then <paramref name="count"/> back to back between two
        /// device markers of <paramref name="profiler"/> (cleared afterwards): milliseconds per evaluation.
        /// </summary>
        public double MsPerEvaluation(LayerProfiler profiler, int warmup, int count)
        {
            Run(warmup);
            objective.Memory.Accelerator.Synchronize();
            profiler.Mark("evaluations");
            Run(count);
            profiler.Mark("end");
            double ms = profiler.Collect()[0].Time.TotalMilliseconds / count;
            profiler.Clear();
            return ms;
        }

        public void Dispose()
        {
            _x.Dispose();
            _gradient.Dispose();
            _loss.Dispose();
        }
    }

    /// <summary>
    /// The FLOP count and shape of a piece: a 3x3 convolution (forward, or its input gradient)
    /// costs 2*K*C*9*H*W; a Gram matrix and its backward 2*C*C*H*W each. Everything else (ReLU,
    /// pooling, MSE, TV) moves memory and is counted as 0 FLOP.
    /// </summary>
    internal static (double Flop, string Shape) Work(string label, ChwShape image, VggWeights weights)
    {
        ChwShape ActivationShape(string relu) => weights.LayerShape(relu, image.Height, image.Width);
        string name = label.Split(' ')[0];
        // "conv1_1+relu1_1 forward", "conv1_1 backward", and on a GPU the fused "relu1_2+conv1_2 backward".
        string? conv = name.Split('+').FirstOrDefault(part => part.StartsWith("conv", StringComparison.Ordinal));
        if (conv is not null)
        {
            var layer = weights[conv];
            var output = ActivationShape(weights.Architecture.ReluName(conv));
            double flop = 2.0 * layer.OutChannels * layer.InChannels * 9 * output.PlaneLength;
            return (flop, $"{layer.InChannels}->{layer.OutChannels} {output.Height}x{output.Width}");
        }
        int at = name.IndexOf('@', StringComparison.Ordinal);
        if (at > 0)
        {
            var activation = ActivationShape(name[(at + 1)..]);
            bool gram = name.StartsWith("StyleLoss", StringComparison.Ordinal);
            return (gram ? 2.0 * activation.Channels * activation.Channels * activation.PlaneLength : 0,
                activation.ToString());
        }
        return (0, name.StartsWith("relu", StringComparison.Ordinal) ? ActivationShape(name).ToString() : "");
    }

    private static string Format(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    private static NetworkImage RandomImage(ChwShape shape, int seed)
    {
        var random = new Random(seed);
        var data = new float[shape.Length];
        for (int i = 0; i < data.Length; i++)
            data[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) *
                              Math.Cos(2 * Math.PI * random.NextDouble()));
        return new NetworkImage(data, shape);
    }

    /// <summary>
    /// VGG-19 with He-normal weights and biases in [-0.1, 0.1], like the PyTorch peer's random network.
    /// </summary>
    public static VggWeights RandomVgg19(int widthDivisor, int seed)
    {
        var random = new Random(seed);
        var tensors = new List<NamedTensor>();
        int inChannels = 3;
        var architecture = VggArchitecture.Vgg19;
        foreach (string name in architecture.ConvNames)
        {
            int outChannels = architecture.OutChannels(name) / widthDivisor;
            double std = Math.Sqrt(2.0 / (inChannels * 9));
            var weight = new float[outChannels * inChannels * 9];
            for (int i = 0; i < weight.Length; i++)
                weight[i] = (float)(std * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) *
                                    Math.Cos(2 * Math.PI * random.NextDouble()));
            var bias = new float[outChannels];
            for (int i = 0; i < bias.Length; i++) bias[i] = (float)(random.NextDouble() * 0.2 - 0.1);
            tensors.Add(new NamedTensor(name + ".weight", [outChannels, inChannels, 3, 3], weight));
            tensors.Add(new NamedTensor(name + ".bias", [outChannels], bias));
            inChannels = outChannels;
        }
        var metadata = new Dictionary<string, string> { ["arch"] = "vgg19", ["preprocess"] = "torchvision" };
        return VggWeights.FromTensors(tensors, metadata, "random VGG-19");
    }
}
