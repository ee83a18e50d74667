using System.Diagnostics;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace IlgpuStyle.Kernels.Tuning;

/// <summary>Times one launch of a variant: the device's clock in a run, fixed figures in the tests.</summary>
public interface ITuningTimer
{
    /// <summary>Milliseconds per launch of <paramref name="launch"/> (which queues <paramref name="variant"/> of
    /// <paramref name="key"/>).</summary>
    double Milliseconds(TuningKey key, KernelVariant variant, Action launch);
}

/// <summary>
/// The device's time per launch: one launch first (a kernel's first launch compiles it), then three batches of
/// as many launches as fill about 5 ms, each waited for; the fastest batch's mean (the others met a busier
/// device). Launches are queued back to back, as a network queues them.
/// </summary>
/// <param name="accelerator">The device the launches run on.</param>
public sealed class DeviceTimer(Accelerator accelerator) : ITuningTimer
{
    private const double BatchMs = 5;
    private const int MaxBatch = 50;

    /// <inheritdoc/>
    public double Milliseconds(TuningKey key, KernelVariant variant, Action launch)
    {
        var clock = Stopwatch.StartNew();
        launch();
        accelerator.Synchronize();
        double first = clock.Elapsed.TotalMilliseconds; // with the compile: only sizes the batch
        int count = (int)Math.Clamp(Math.Ceiling(BatchMs / Math.Max(first, 1e-3)), 1, MaxBatch);
        double best = double.PositiveInfinity;
        for (int batch = 0; batch < 3; batch++)
        {
            clock.Restart();
            for (int i = 0; i < count; i++) launch();
            accelerator.Synchronize();
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds / count);
        }
        return best;
    }
}

/// <summary>One variant as the tuner measured it.</summary>
/// <param name="Variant">The variant.</param>
/// <param name="Ms">Milliseconds per launch.</param>
/// <param name="Check">Its output against the reference's.</param>
public sealed record VariantMeasurement(KernelVariant Variant, double Ms, TrialCheck Check);

/// <summary>How one (operation, shape) was decided.</summary>
/// <param name="Key">The operation and shape.</param>
/// <param name="Variant">The variant chosen.</param>
/// <param name="FromCache">Read from the cache, not timed now.</param>
/// <param name="Measurements">Every candidate's time and check (empty when read from the cache).</param>
public sealed record TuningDecision(TuningKey Key, KernelVariant Variant, bool FromCache,
    IReadOnlyList<VariantMeasurement> Measurements);

/// <summary>What <c>--tune</c> asks: <c>auto</c> tunes on a GPU (<see cref="KernelTuner.IsGpu"/>) with the
/// cache, <c>off</c> runs the rule as written, <c>always</c> times every shape again (on any device) and rewrites
/// the cache.</summary>
public enum TuningMode
{
    /// <summary>On a GPU: the cached choice, or time the shape once and cache it. On the CPU: off.</summary>
    Auto,

    /// <summary>The rule as written (<see cref="KernelChoice"/>), no timing, no cache.</summary>
    Off,

    /// <summary>Time every shape now, on any device, and cache the result.</summary>
    Always,
}

/// <summary>
/// Per-layer tuning, the way <c>cudnn.benchmark</c> works: the first time an operation meets a shape on a device,
/// every candidate variant (<see cref="KernelChoice.Candidates"/>) runs on the same data, its output is checked
/// against the reference variant's within its own bound (<see cref="TuningBounds"/>), it is timed, and the fastest
/// correct one is kept, in the rule (<see cref="KernelChoice.WithTuned"/>) and in the cache
/// (<see cref="TuningCache"/>), per device, driver, program version and shape. A variant whose output is out of its
/// bound is never chosen, however fast; the reference always passes, so every shape has a choice.
/// </summary>
public static class KernelTuner
{
    /// <summary>Whether <paramref name="mode"/> tunes on a device that is a GPU or not.</summary>
    public static bool Tunes(TuningMode mode, bool gpu) =>
        mode == TuningMode.Always || (mode == TuningMode.Auto && gpu);

    /// <summary>Whether <paramref name="accelerator"/> is a GPU: CUDA, or an OpenCL device of the GPU type (PoCL
    /// on a CPU is not one, nor is ILGPU's CPU accelerator).</summary>
    public static bool IsGpu(Accelerator accelerator) => accelerator switch
    {
        CudaAccelerator => true,
        CLAccelerator { Device: CLDevice device } => device.DeviceType.HasFlag(CLDeviceType.CL_DEVICE_TYPE_GPU),
        _ => false,
    };

    /// <summary>Runs, checks and times every candidate of <paramref name="trial"/> (in its order).</summary>
    public static IReadOnlyList<VariantMeasurement> Measure(ITuningTrial trial, ITuningTimer timer)
    {
        var measurements = new List<VariantMeasurement>();
        foreach (var variant in trial.Candidates)
        {
            trial.Run(variant);
            var check = trial.Check(variant);
            double ms = timer.Milliseconds(trial.Key, variant, () => trial.Run(variant));
            measurements.Add(new VariantMeasurement(variant, ms, check));
        }
        return measurements;
    }

    /// <summary>The fastest variant that passed its check, or null when none did.</summary>
    public static KernelVariant? Fastest(IEnumerable<VariantMeasurement> measurements) =>
        measurements.Where(m => m.Check.Passed && double.IsFinite(m.Ms)).MinBy(m => m.Ms)?.Variant;

    /// <summary>
    /// Decides every key of <paramref name="keys"/>: with <see cref="TuningMode.Auto"/> from the cache where it
    /// holds a choice for this device that is still a candidate, else by timing a trial; a key with one candidate
    /// needs no decision (the rule runs it). Writes what was timed to the cache. Returns the rule with the
    /// decisions, and the decisions (for the lines a run prints).
    /// </summary>
    /// <param name="choice">The rule as written: its candidates, and what the result adds a table to.</param>
    /// <param name="keys">The operations and shapes a run will launch.</param>
    /// <param name="mode">What <c>--tune</c> asked (the caller has checked <see cref="Tunes"/>).</param>
    /// <param name="trials">Makes the trial of a key on the device.</param>
    /// <param name="timer">Times the launches.</param>
    /// <param name="cache">Where choices are kept between runs (null: none).</param>
    /// <param name="device">The device, driver, program and settings the cache keys on.</param>
    /// <param name="log">Notes for the user (a cache that cannot be read or written).</param>
    public static (KernelChoice Choice, IReadOnlyList<TuningDecision> Decisions) Tune(KernelChoice choice,
        IEnumerable<TuningKey> keys, TuningMode mode, Func<TuningKey, ITuningTrial> trials, ITuningTimer timer,
        TuningCache? cache, DeviceIdentity device, Action<string> log)
    {
        if (mode == TuningMode.Off) return (choice, []);
        var cached = mode == TuningMode.Auto && cache is not null
            ? cache.Load(device, log)
            : new Dictionary<TuningKey, KernelVariant>();
        var table = new Dictionary<TuningKey, KernelVariant>();
        var decisions = new List<TuningDecision>();
        var timed = new Dictionary<TuningKey, KernelVariant>();
        foreach (var key in keys.Distinct())
        {
            var candidates = choice.Candidates(key.Operation, key.Shape);
            if (candidates.Count < 2) continue; // nothing to choose between: the rule's (only) variant
            if (cached.TryGetValue(key, out var known) && candidates.Contains(known))
            {
                table[key] = known;
                decisions.Add(new TuningDecision(key, known, true, []));
                continue;
            }
            using var trial = trials(key);
            var measurements = Measure(trial, timer);
            // The reference passes against itself, so a choice exists; a failed reference (NaN) keeps the rule.
            if (Fastest(measurements) is not { } fastest) continue;
            table[key] = timed[key] = fastest;
            decisions.Add(new TuningDecision(key, fastest, false, measurements));
        }
        if (timed.Count > 0) cache?.Save(device, timed, log);
        return (choice.WithTuned(new TunedVariants(table)), decisions);
    }
}
