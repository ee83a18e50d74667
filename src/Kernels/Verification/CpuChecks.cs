using ILGPU.Runtime;
using static IlgpuStyle.Kernels.Verification.TestData;

namespace IlgpuStyle.Kernels.Verification;

/// <summary>Checks of the host-code CPU variants against the same CPU references as the device kernels.</summary>
public static partial class KernelChecks
{
    /// <summary>
    /// Shapes for the CPU convolutions: the plain kernels' four awkward shapes (stride 2, 1x1, a
    /// rectangular kernel with padding wider than it), plus products with every edge the blocking
    /// has: R = 270 (two reduction blocks of 192, the last partial), 21 and 23 output channels (a
    /// partial strip of 8), 77 and 54 pixels (panels of 32 that straddle grid rows, the last partial),
    /// and a strided, padded one whose input gradient spreads dOut out by the stride; and two images one
    /// pixel wide, where a full panel of 32 pixels is 32 runs of one (conv5 of a 16 x 512 photograph).
    /// </summary>
    private static readonly Conv2dShape[] CpuShapes =
    [
        .. ConvShapes,
        new(30, 7, 11, 21, 3, 3, 1, 1),
        new(23, 9, 6, 30, 3, 3, 1, 1),
        new(5, 9, 8, 7, 3, 3, 1, 2),
        new(2, 40, 1, 8, 1, 1, 0, 1),
        new(3, 64, 1, 9, 3, 3, 1, 1),
    ];

    private const string CpuRequirement = "runs in host code over the CPU accelerator's buffers (host memory)";

    static partial void AddCpuKernels(List<KernelCheck> checks)
    {
        foreach (var shape in CpuShapes)
        {
            string text = shape.ToString();
            foreach (bool relu in new[] { false, true })
            {
                string name = $"conv2d.forward{(relu ? "+relu" : "")}/cpu";
                checks.Add(Cpu(name, text, k => ConvForward(k, shape, KernelVariant.Cpu, relu, name, seed: 81,
                    WithinFloatSums, offset: 5)));
            }
            foreach (var mask in new[] { "", "+relu-mask", "+relu-bits" })
            {
                string name = $"conv2d.backward{mask}/cpu";
                checks.Add(Cpu(name, text, k => ConvBackward(k, shape, KernelVariant.Cpu, mask, name, seed: 82,
                    WithinFloatSums)));
            }
        }

        // Gram: C < M; C > M; blocks of 4 with ragged edges (70, 130 channels); a single entry; and
        // 300 x 600, whose positions come in 3 chunks (sums carried over in G) and whose backward has
        // 38 strips of 8 rows, the last partial.
        GramShape[] grams = [new(3, 35), new(12, 5), new(70, 5), new(130, 77), new(1, 1), new(300, 600)];
        foreach (var shape in grams)
        {
            string text = $"C{shape.Channels} M{shape.Positions}";
            // The host code as the default rule runs it (short rows as one product, the rest by blocks of dot
            // products), and as --conv-algorithm direct keeps it (blocks for every shape).
            checks.Add(Cpu("gram.forward/cpu", text, k => GramForward(k, shape, KernelVariant.Cpu,
                "gram.forward/cpu", text, ConvAlgorithm.Auto)));
            checks.Add(Cpu("gram.forward/cpu-blocks", text, k => GramForward(k, shape, KernelVariant.Cpu,
                "gram.forward/cpu-blocks", text, ConvAlgorithm.Direct)));
            foreach (bool accumulate in new[] { false, true })
            {
                string name = $"gram.backward{(accumulate ? "+accumulate" : "")}/cpu";
                checks.Add(Cpu(name, text, k => GramBackward(k, shape, KernelVariant.Cpu, accumulate, name, text)));
            }
        }
    }

    /// <summary>
    /// The memory-bound operations' host variants, on the plain kernels' checks (the same shapes,
    /// references and poisoned outputs), plus sizes that span several chunks and cores.
    /// </summary>
    static partial void AddCpuPasses(List<KernelCheck> checks)
    {
        var host = new List<KernelCheck>();
        const KernelVariant cpu = KernelVariant.Cpu;
        AddRelu(host, cpu);
        AddPooling(host, cpu);
        AddLosses(host, cpu);
        AddVectorOps(host, cpu);
        AddReplicate(host, cpu);
        AddGuide(host, cpu);
        // Rows spread over the cores: 48x64 -> 68x91, the first two scales of a 256 px coarse-to-fine run.
        AddUpsample(host, cpu, [(new(3, 48, 64), new(3, 68, 91))]);
        AddAdam(host, cpu, [100003]); // every core's range, and a tail shorter than a vector
        const int n = 100003; // 7 chunks of the sums, the last partial; a mask word cut short
        string text = $"n={n}";
        host.Add(new("vector.dot", text, k => Reduce(k, "vector.dot", text, n, null, (v, r, x, y) => v.Dot(r,
            x, y, cpu), VectorOps.DotReference)));
        host.Add(new("vector.linear-combination", text, k => Elementwise2(k, "vector.linear-combination", n,
            (v, x, y, z) => v.LinearCombination(z, 0.5f, x, -2f, y, 0.25f, cpu), (x, y) => 0.5 * x - 2 * y + 0.25)));
        host.Add(new("mse.forward", text, k => MseForward(k, cpu, n, false, "mse.forward")));
        var pool = new ChwShape(9, 33, 35);
        host.Add(new("maxpool2d.forward/fused-relu", pool.ToString(), k => MaxPoolForward(k, cpu, pool, true,
            "maxpool2d.forward/fused-relu", pool.ToString())));
        host.Add(new("maxpool2d.backward/fused-relu", pool.ToString(), k => MaxPoolBackward(k, cpu, pool, true,
            "maxpool2d.backward/fused-relu", pool.ToString())));
        host.Add(new("l2pool2d.forward", pool.ToString(), k => L2PoolForward(k, cpu, pool, pool.ToString())));
        host.Add(new("l2pool2d.backward", pool.ToString(), k => L2PoolBackward(k, cpu, pool, pool.ToString())));
        foreach (var check in host.Where(c => !c.Kernel.StartsWith("relu.", StringComparison.Ordinal) || c.Kernel ==
            "relu.pack-mask"))
        {
            checks.Add(Cpu(check.Kernel + "/cpu", check.Shape, k =>
            {
                var result = check.Run(k);
                return result with { Kernel = result.Kernel + "/cpu" };
            }));
        }
    }

    private static KernelCheck Cpu(string name, string shape, Func<KernelSet, CheckResult> run) =>
        new(name, shape, run) { Requires = CpuHost.Supports, RequirementText = CpuRequirement };
}
