using System.Globalization;
using System.Text.Json.Serialization;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Tuning;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Host;

/// <summary>One variant of one layer's operation in <c>bench --sweep</c>.</summary>
internal sealed record SweepVariant(
    [property: JsonPropertyName("variant")] string Variant,
    [property: JsonPropertyName("ms")] double Ms,
    [property: JsonPropertyName("gflops_per_s")] double GflopsPerSecond,
    [property: JsonPropertyName("error_over_bound")] double ErrorOverBound,
    [property: JsonPropertyName("correct")] bool Correct);

/// <summary>One layer's operation (forward with its ReLU, or input gradient) and every variant of it.</summary>
internal sealed record SweepLayer(
    [property: JsonPropertyName("layer")] string Layer,
    [property: JsonPropertyName("operation")] string Operation,
    [property: JsonPropertyName("shape")] string Shape,
    [property: JsonPropertyName("gflop")] double Gflop,
    [property: JsonPropertyName("rule")] string Rule,
    [property: JsonPropertyName("fastest")] string? Fastest,
    [property: JsonPropertyName("variants")] IReadOnlyList<SweepVariant> Variants);

/// <summary>The sweep at one image size.</summary>
internal sealed record SweepSize(
    [property: JsonPropertyName("size")] int Size,
    [property: JsonPropertyName("layers")] IReadOnlyList<SweepLayer> Layers);

/// <summary>What <c>bench --sweep --json</c> writes: bench's header fields, and per size the layers.</summary>
internal sealed record SweepReport(
    [property: JsonPropertyName("device")] string Device,
    [property: JsonPropertyName("date")] string Date,
    [property: JsonPropertyName("width_divisor")] int WidthDivisor,
    [property: JsonPropertyName("sizes")] IReadOnlyList<SweepSize> Sizes);

/// <summary>
/// <c>ilgpu-style bench --sweep</c>: every kernel variant of every convolution layer of the bench's network, both
/// directions, run on the same data, checked against the reference variant within its bound and timed, as the
/// tuner does (<see cref="KernelTuner.Measure"/>): one table of ms, GFLOP/s, the worst error over its bound and
/// whether it is correct, with the built-in rule's variant and the fastest correct one marked. On the CPU
/// accelerator the only variant is the host code.
/// </summary>
internal static class Sweep
{
    public static SweepReport Run(TextWriter output, KernelSet kernels, VggWeights weights, IReadOnlyList<int> sizes,
        string deviceName, int widthDivisor)
    {
        var rule = kernels.Choice;
        var timer = new DeviceTimer(kernels.Accelerator);
        output.WriteLine($"Sweep on {deviceName}: every kernel variant of every convolution of VGG-19" +
                         $"{(widthDivisor > 1 ? $" with channels / {widthDivisor}" : "")} to relu5_1, random data, " +
                         $"checked against {LayerTuning.Name(rule.Reference)} (the reference) and timed");
        var results = new List<SweepSize>();
        foreach (int size in sizes)
        {
            var plan = Bench.Plan(rule, weights, new ChwShape(3, size, size), tileCore: null);
            var network = plan.Network ?? throw new UsageException($"--size {size} makes tensors of more than " +
                                                                   "2^31 elements, which the kernels cannot index.");
            var measured = new Dictionary<TuningKey, IReadOnlyList<VariantMeasurement>>(); // a shape once
            var layers = new List<SweepLayer>();
            foreach (var layer in network.Layers)
            {
                if (layer.Conv is not { } shape) continue;
                foreach (var operation in new[] { TunedOperation.ConvForward, TunedOperation.ConvInputGradient })
                {
                    var key = new TuningKey(operation, shape);
                    if (!measured.TryGetValue(key, out var measurements))
                    {
                        using var trial = new ConvTrial(kernels, key);
                        measured[key] = measurements = KernelTuner.Measure(trial, timer);
                    }
                    var ruled = operation == TunedOperation.ConvForward
                        ? rule.ConvForward(shape)
                        : rule.ConvInputGradient(shape);
                    layers.Add(new SweepLayer(layer.Name,
                        operation == TunedOperation.ConvForward ? "forward+relu" : "input gradient",
                        $"{shape.InChannels}->{shape.OutChannels} {shape.OutHeight}x{shape.OutWidth}", key.Flop / 1e9,
                        LayerTuning.Name(ruled),
                        KernelTuner.Fastest(measurements) is { } fastest ? LayerTuning.Name(fastest) : null,
                        measurements.Select(m => new SweepVariant(LayerTuning.Name(m.Variant), m.Ms,
                            m.Ms > 0 ? key.Flop / 1e6 / m.Ms : 0, m.Check.WorstRatio, m.Check.Passed)).ToList()));
                }
            }
            results.Add(new SweepSize(size, layers));
            Print(output, size, layers);
        }
        string date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        return new SweepReport(deviceName, date, widthDivisor, results);
    }

    private static void Print(TextWriter output, int size, IReadOnlyList<SweepLayer> layers)
    {
        output.WriteLine();
        output.WriteLine($"size {size}x{size}");
        var rows = new List<string[]>();
        foreach (var layer in layers)
        {
            foreach (var v in layer.Variants)
            {
                string marks = string.Join(", ", new[]
                {
                    v.Variant == layer.Rule ? "rule" : null, v.Variant == layer.Fastest ? "fastest" : null,
                }.OfType<string>());
                rows.Add([layer.Layer, layer.Operation, layer.Shape, v.Variant, Format(v.Ms, "0.000"),
                    Format(v.GflopsPerSecond, "0.0"), Format(v.ErrorOverBound, "0.000"),
                    v.Correct ? "yes" : "NO", marks]);
            }
        }
        TextTable.Write(output, ["layer", "operation", "shape", "variant", "ms", "GFLOP/s", "error/bound", "correct",
            ""], rows);
        double rule = layers.Sum(l => l.Variants.FirstOrDefault(v => v.Variant == l.Rule)?.Ms ?? double.NaN);
        double fastest = layers.Sum(l => l.Variants.FirstOrDefault(v => v.Variant == l.Fastest)?.Ms ?? double.NaN);
        output.WriteLine(string.Format(CultureInfo.InvariantCulture,
            "convolutions of one evaluation: {0:0.000} ms with the rule's variants, {1:0.000} ms with the fastest " +
            "correct ones (each launch timed alone; error/bound: the worst element's distance from the reference " +
            "over its bound, correct when at most 1)", rule, fastest));
    }

    private static string Format(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
