using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Host;

/// <summary>
/// The device, kernels and weights of many runs in one process (a batch's images, a video's frames): started for
/// the first run that needs them and kept, with the objective handed from one run to the next
/// (<see cref="ObjectiveCache"/>).
/// </summary>
/// <param name="output">Where the session reports.</param>
/// <param name="once">What the start line says the device is started for (<c>once for the batch</c>).</param>
/// <param name="item">What one run is called in the start line's hint (<c>image</c>, <c>frame</c>).</param>
internal sealed class RunSession(TextWriter output, string once, string item) : IDisposable
{
    /// <summary>Where the session reports.</summary>
    public TextWriter Output => output;

    private Context? _context;
    private Accelerator? _accelerator;
    private KernelSet? _kernels;
    private StyleRun.RunDevice? _run;

    /// <summary>The objective handed from one run to the next.</summary>
    public ObjectiveCache Objectives { get; } = new();

    /// <summary>Style images, each decoded once.</summary>
    public StyleImages Styles { get; } = new();

    /// <summary>The kernels the device runs; null until <see cref="Start"/>.</summary>
    public KernelChoice? Choice { get; private set; }

    /// <summary>The device's memory limit without <c>--max-memory</c>, taken once at the start: a run's plan
    /// must not depend on the buffers the run before left for it.</summary>
    public MemoryLimit? Limit { get; private set; }

    /// <summary>Starts the device with <paramref name="o"/>'s device, weights and kernel options, once.</summary>
    public StyleRun.RunDevice Start(RunOptions o, bool verbose)
    {
        if (_run is not null) return _run;
        var (weightsPath, weightsSource, isDefault) = WeightsLocation.Of(o.Weights);
        var weights = WeightsLocation.Load(weightsPath, weightsSource, isDefault, output);
        _context = Devices.CreateContext();
        var device = Devices.Select(_context, o.Device);
        Choice = new KernelChoice(AcceleratorDescription.Of(device), o.Tf32, algorithm: o.ConvAlgorithm);
        _accelerator = device.CreateAccelerator(_context);
        Limit = MemoryLimit.Default(_accelerator);
        output.WriteLine($"Starting {device.AcceleratorType} '{device.Name.Trim()}' " +
                         $"({once}{(verbose ? "" : $"; --verbose prints each {item}'s run")})...");
        _kernels = new KernelSet(_accelerator, Choice, o.Threads);
        _run = new StyleRun.RunDevice(_accelerator, _kernels, weights, weightsPath, Objectives);
        return _run;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Objectives.Dispose();
        _kernels?.Dispose();
        _accelerator?.Dispose();
        _context?.Dispose();
    }
}
