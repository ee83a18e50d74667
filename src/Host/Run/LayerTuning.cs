using System.Diagnostics;
using System.Globalization;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Tuning;

namespace IlgpuStyle.Host;

/// <summary>
/// <c>--tune</c> for a command that is about to run: the convolution shapes of its plan, both directions, decided
/// by <see cref="KernelTuner"/> on the device (timed, or read from the cache in the per-user data folder), and the
/// rule with those choices, from which the command plans again. With <c>--tune off</c>, or <c>auto</c> on the CPU,
/// it is the rule as given and prints nothing.
/// </summary>
internal static class LayerTuning
{
    /// <summary>The rule for <paramref name="shapes"/> on <paramref name="accelerator"/> as <paramref name="mode"/>
    /// asks, with one line saying what was timed and what changed.</summary>
    /// <param name="accelerator">The device the run will use.</param>
    /// <param name="rule">The rule as written (with <c>--tf32</c>).</param>
    /// <param name="shapes">The convolution shapes the run's plan holds.</param>
    /// <param name="mode"><c>--tune</c>.</param>
    /// <param name="threads">The host code's cores (<c>--threads</c>).</param>
    /// <param name="output">Where the line goes.</param>
    /// <param name="cachePath">The cache file (default: <see cref="UserData.TuningCache"/>; tests pass their own).
    /// </param>
    public static KernelChoice Tune(Accelerator accelerator, KernelChoice rule, IEnumerable<Conv2dShape> shapes,
        TuningMode mode, int threads, TextWriter output, string? cachePath = null)
    {
        if (!KernelTuner.Tunes(mode, KernelTuner.IsGpu(accelerator))) return rule;
        var keys = shapes.Distinct().SelectMany(s => new[]
        {
            new TuningKey(TunedOperation.ConvForward, s), new TuningKey(TunedOperation.ConvInputGradient, s),
        }).ToList();
        var clock = Stopwatch.StartNew();
        var cache = new TuningCache(cachePath ?? UserData.TuningCache);
        // The trials' own kernels, under the rule as written (the candidates come from it).
        using var kernels = new KernelSet(accelerator, rule, threads);
        var (tuned, decisions) = KernelTuner.Tune(rule, keys, mode, key => new ConvTrial(kernels, key),
            new DeviceTimer(accelerator), cache, DeviceIdentity.Of(accelerator, rule),
            note => output.WriteLine($"note: {note}"));
        int timed = decisions.Count(d => !d.FromCache);
        var changed = decisions.Where(d => d.Variant != Ruled(rule, d.Key)).ToList();
        string seconds = clock.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
        string changes = changed.Count == 0
            ? "each runs the built-in rule's variant"
            : $"{changed.Count} run another variant than the built-in rule's: " + string.Join("; ",
                changed.Select(d => $"{d.Key} {Name(Ruled(rule, d.Key))} -> {Name(d.Variant)}"));
        output.WriteLine($"Tuned {decisions.Count} convolution kernels ({timed} timed and checked now, " +
                         $"{decisions.Count - timed} from {cache.Path}) in {seconds} s; {changes}.");
        return tuned;
    }

    /// <summary>A variant as the command line and the tables spell it (<c>per-element</c>).</summary>
    public static string Name(KernelVariant variant) => ChoiceOptions.Name(variant);

    private static KernelVariant Ruled(KernelChoice rule, TuningKey key) => key.Operation == TunedOperation.ConvForward
        ? rule.ConvForward(key.Shape)
        : rule.ConvInputGradient(key.Shape);
}
