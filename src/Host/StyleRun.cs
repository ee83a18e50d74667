using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Optimization;
using IlgpuStyle.Weights;

namespace IlgpuStyle.Host;

/// <summary>
/// The main job: <c>ilgpu-style --content C --style S</c> renders C in the style of S.
/// Everything that can be checked before the long part is checked first (paths, images, weights,
/// layer names, device memory), so a bad input fails in a second with nothing written.
/// </summary>
internal static class StyleRun
{
    public static int Execute(RunOptions o, TextWriter output, bool live)
    {
        var clock = Stopwatch.StartNew();
        Validate(o);
        ImageFiles.CheckWritable(o.Output, "output image");
        if (o.Report is not null) CheckReportWritable(o.Report);

        var weights = LoadWeights(o, output);
        var preprocessing = Preprocessing.FromName(weights.Preprocess);
        var contentFile = ImageFiles.Load(o.Content, "content image");
        int styleSize = StyleSize(o, o.Size);
        var styleFiles = o.Styles.Select(s => ImageFiles.Load(s, "style image")).ToList();
        var initFile = o.Init == InitKind.Image ? ImageFiles.Load(o.InitImage!, "init image") : null;
        o.Style.CheckLayers(weights.Architecture);

        using var context = Devices.CreateContext();
        var device = Devices.Select(context, o.Device);
        // The kernels every step will run; --tf32 where it cannot run is refused here.
        var kernelChoice = new KernelChoice(AcceleratorDescription.Of(device), o.Tf32);
        // Check memory from the target shapes, before resizing: a huge --size must fail here, not allocate.
        CheckMemory(device, weights, contentFile, styleFiles, kernelChoice, o);
        var contentImage = ImageResize.ToLongerSide(contentFile, o.Size);
        var styleImages = styleFiles.Select(s => ImageResize.ToLongerSide(s, styleSize)).ToList();
        var initImage = initFile is null ? null : ImageResize.Resize(initFile, contentImage.Width, contentImage.Height);
        var content = ToNetwork(preprocessing, contentImage);
        var styles = styleImages.Select(i => ToNetwork(preprocessing, i)).ToList();
        using var accelerator = device.CreateAccelerator(context);
        CpuHost.Threads = o.Threads;
        using var kernels = new KernelSet(accelerator, kernelChoice);
        using var objective = new StyleObjective(kernels, weights, content, styles, o.Style);
        using var x = accelerator.Allocate1D(InitialImage(o, content, initImage, preprocessing));
        using IOptimizer optimizer = o.Optimizer == OptimizerKind.Lbfgs
            ? new LbfgsOptimizer(kernels, objective, x.View, o.Lbfgs with
            {
                MaxIterations = Math.Max(o.Iterations, 1),
                LearningRate = o.LearningRate ?? o.Lbfgs.LearningRate,
            })
            : new AdamOptimizer(kernels, objective, x.View, o.Adam with
            {
                MaxIterations = Math.Max(o.Iterations, 1),
                LearningRate = o.LearningRate ?? RunOptions.DefaultAdamLearningRate(preprocessing),
            });

        output.WriteLine($"Styling {o.Content} ({contentImage.Width}x{contentImage.Height}) with " +
                         $"{string.Join(", ", o.Styles)} " +
                         $"on {accelerator.AcceleratorType} '{accelerator.Name.Trim()}': " +
                         $"{o.Optimizer.ToString().ToLowerInvariant()}, {o.Iterations} iterations");

        var records = new List<IterationRecord>();
        OptimizerStep last = default;
        ProgressDisplay.Run(output, live, o.Iterations, sink =>
        {
            var watch = Stopwatch.StartNew();
            last = optimizer.Start();
            var losses = objective.ReadLosses();
            Record(records, sink, 0, o.Iterations, losses, watch.Elapsed.TotalMilliseconds);
            while (!last.Stopped && last.Iteration < o.Iterations)
            {
                watch.Restart();
                last = optimizer.Step();
                double ms = watch.Elapsed.TotalMilliseconds;
                bool final = last.Stopped || last.Iteration >= o.Iterations;
                bool print = final || (o.PrintEvery > 0 && last.Iteration % o.PrintEvery == 0);
                if (print || live) losses = objective.ReadLosses();
                sink.Update(last.Iteration, losses);
                if (print) Record(records, sink, last.Iteration, o.Iterations, losses, ms);
                if (o.SaveEvery > 0 && last.Iteration % o.SaveEvery == 0 && !final)
                {
                    string snapshot = SnapshotPath(o.Output, last.Iteration);
                    ImageFiles.SaveAtomically(Render(x, preprocessing, contentImage, o.OriginalColors), snapshot);
                    sink.Line($"saved {snapshot}");
                }
            }
        });
        if (last.Stopped && last.Stop != StopReason.MaxIterations && last.Iteration < o.Iterations)
            output.WriteLine($"Stopped at iteration {last.Iteration}: {Describe(last.Stop)}.");

        var result = Render(x, preprocessing, contentImage, o.OriginalColors);
        ImageFiles.SaveAtomically(result, o.Output);
        double seconds = clock.Elapsed.TotalSeconds;
        if (o.Report is not null)
        {
            new RunReport($"{accelerator.AcceleratorType} {accelerator.Name.Trim()}", [result.Height, result.Width],
                o.Weights, records, objective.Memory.PeakBytes + OptimizerBytes(o, objective.Length) + x.LengthInBytes,
                seconds).SaveAtomically(o.Report);
        }
        output.WriteLine(
            $"Wrote {o.Output} ({result.Width}x{result.Height}) in {ProgressDisplay.FormatDuration(seconds)}.");
        return 0;
    }

    private static void Record(
        List<IterationRecord> records, IProgressSink sink, int iteration, int total, LossBreakdown l, double ms)
    {
        records.Add(new IterationRecord(iteration, l.Total, l.Content, l.Style, l.TotalVariation, ms));
        sink.Line(ProgressDisplay.FormatIteration(iteration, total, l));
    }

    private static string Describe(StopReason reason) => reason switch
    {
        StopReason.GradientTolerance => "the gradient is below tolerance (converged)",
        StopReason.ChangeTolerance => "the loss or the image stopped changing (converged)",
        StopReason.LineSearchFailed =>
            "the line search found no lower loss (converged as far as float precision allows)",
        StopReason.NonFinite => "the loss became infinite or NaN; try smaller weights or a smaller --learning-rate",
        _ => reason.ToString(),
    };

    private static void Validate(RunOptions o)
    {
        if (o.Styles.Count == 0)
            throw new UsageException("--style needs at least one image (several: comma-separated or repeated).");
        if (o.Size <= 0) throw new UsageException($"--size must be a positive number of pixels, got {o.Size}.");
        if (o.StyleScale <= 0) throw new UsageException($"--style-scale must be positive, got {o.StyleScale}.");
        if (o.Iterations < 0) throw new UsageException($"--iterations must not be negative, got {o.Iterations}.");
        if (o.Threads < 1) throw new UsageException($"--threads must be at least 1, got {o.Threads}.");
        if (o.Lbfgs.HistorySize <= 0)
            throw new UsageException($"--lbfgs-history must be at least 1, got {o.Lbfgs.HistorySize}.");
        if (o.LearningRate is <= 0)
            throw new UsageException($"--learning-rate must be positive, got {o.LearningRate}.");
        if (o.PrintEvery < 0 || o.SaveEvery < 0)
            throw new UsageException("--print-every and --save-every must not be negative.");
        if (o.Init == InitKind.Image && o.InitImage is null)
            throw new UsageException("--init image needs --init-image FILE.");
        if (o.Init != InitKind.Image && o.InitImage is not null)
            throw new UsageException("--init-image is used only with --init image.");
        if (o.Style.StyleBlendWeights is { } blend && blend.Count != o.Styles.Count)
        {
            throw new UsageException(
                $"--style-blend-weights has {blend.Count} values but there are {o.Styles.Count} style images.");
        }
        foreach (float w in new[] { o.Style.ContentWeight, o.Style.StyleWeight, o.Style.TvWeight }.OfType<float>())
        {
            if (w < 0 || !float.IsFinite(w))
                throw new UsageException($"Loss weights must be non-negative numbers, got {w}.");
        }
    }

    private static void CheckReportWritable(string path)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder))
        {
            throw new UsageException(
                $"The folder of the report, '{folder}', does not exist. Create it or choose another path.");
        }
    }

    private static VggWeights LoadWeights(RunOptions o, TextWriter output)
    {
        if (!File.Exists(o.Weights))
        {
            if (Path.GetFullPath(o.Weights) != Path.GetFullPath(RunOptions.DefaultWeights))
            {
                throw new UsageException($"The weights file '{o.Weights}' does not exist. Convert one with " +
                                         "tools/Converter, or leave --weights out to download VGG-19.");
            }
            output.WriteLine(
                $"{o.Weights} is missing: downloading torchvision's VGG-19 weights and converting them (once).");
            try
            {
                WeightDownloader.DownloadAndConvertAsync(TorchvisionFile.Vgg19, o.Weights, log: output)
                    .GetAwaiter().GetResult();
            }
            catch (ConverterException e)
            {
                throw new UsageException(e.Message);
            }
        }
        try
        {
            return VggWeights.Load(o.Weights);
        }
        catch (WeightsFormatException e)
        {
            throw new UsageException(
                $"The weights file cannot be used: {e.Message} Convert it again with tools/Converter.");
        }
    }

    private static NetworkImage ToNetwork(Preprocessing preprocessing, RgbImage image) =>
        new(preprocessing.ToNetworkInput(image), new ChwShape(3, image.Height, image.Width));

    private static float[] InitialImage(
        RunOptions o, NetworkImage content, RgbImage? initImage, Preprocessing preprocessing)
    {
        switch (o.Init)
        {
            case InitKind.Image:
                return preprocessing.ToNetworkInput(initImage!);
            case InitKind.Random:
                // Faint Gaussian noise around the mean colour, as neural-style does (0.001 on the 0-255 scale).
                var random = new Random(o.Seed);
                double sigma = preprocessing.Convention == PreprocessConvention.Caffe
                    ? 1e-3
                    : 1e-3 / LossWeights.TorchvisionScale;
                var noise = new float[content.Data.Length];
                for (int i = 0; i < noise.Length; i++)
                {
                    noise[i] = (float)(sigma * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble()))
                                             * Math.Cos(2 * Math.PI * random.NextDouble()));
                }
                return noise;
            default:
                return (float[])content.Data.Clone();
        }
    }

    private static RgbImage Render(
        MemoryBuffer1D<float, Stride1D.Dense> x, Preprocessing preprocessing, RgbImage content, bool originalColors)
    {
        x.Accelerator.Synchronize();
        var image = preprocessing.ToImage(x.GetAsArray1D(), content.Width, content.Height);
        return originalColors ? ColorTransfer.KeepOriginalColors(image, content) : image;
    }

    /// <summary><c>out.png</c> at iteration 100 is saved as <c>out_100.png</c>.</summary>
    public static string SnapshotPath(string output, int iteration) =>
        Path.Combine(Path.GetDirectoryName(output) ?? "",
            $"{Path.GetFileNameWithoutExtension(output)}_{iteration}{Path.GetExtension(output)}");

    private static long OptimizerBytes(RunOptions o, int n) => o.Optimizer == OptimizerKind.Lbfgs
        ? LbfgsOptimizer.RequiredBytes(n, o.Lbfgs.HistorySize)
        : AdamOptimizer.RequiredBytes(n);

    /// <summary>
    /// The longer side of the style images for a content size: <c>--style-scale</c> times it, at least 1.
    /// </summary>
    private static int StyleSize(RunOptions o, int size) => Math.Max(1, (int)Math.Round(o.StyleScale * size));

    private static void CheckMemory(Device device, VggWeights weights, RgbImage content, IReadOnlyList<RgbImage> styles,
        KernelChoice kernels, RunOptions o)
    {
        // The CPU accelerator reports no real size; there the limit is what the process may still use.
        long available = device.AcceleratorType == AcceleratorType.CPU
            ? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes
            : device.MemorySize;
        long budget = (long)(available * 0.9); // leave room for the runtime and kernels' own scratch
        long needed = BytesAt(o.Size);
        if (needed <= budget) return;

        // The largest --size that fits, every image scaled as the run would scale it.
        int fits = MemoryEstimate.LargestFittingSize(o.Size, budget, BytesAt);
        string hint = fits >= 16 ? $"--size {fits} fits" : "even a small image does not fit";
        if (needed == long.MaxValue)
            throw new UsageException($"--size {o.Size} makes tensors of more than 2^31 elements, which the kernels " +
                                     $"cannot index: {hint} on {device.Name.Trim()}.");
        throw new UsageException($"--size {o.Size} needs about {DeviceList.FormatBytes(needed)} of device memory but " +
                                 $"{device.Name.Trim()} has {DeviceList.FormatBytes(budget)} to spare: {hint}, " +
                                 "or lower --lbfgs-history, or use --optimizer adam.");

        long BytesAt(int size) => MemoryEstimate.RunBytes(weights, TargetShape(content, size),
            styles.Select(s => TargetShape(s, StyleSize(o, size))).ToList(), o.Style, kernels,
            n => OptimizerBytes(o, n));
    }

    /// <summary>
    /// The shape <see cref="ImageResize.ToLongerSide"/> will give <paramref name="image"/>, without resizing it.
    /// </summary>
    private static ChwShape TargetShape(RgbImage image, int longerSide)
    {
        var (width, height) = ImageResize.LongerSideSize(image.Width, image.Height, longerSide);
        return new ChwShape(3, height, width);
    }
}
