using System.Globalization;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels.Verification;

/// <summary>Checks of Winograd's convolutions (kernel 5 on a GPU, kernel 6 in host code) against the direct
/// double-precision reference, and of the host code's direct product with its weights packed once.</summary>
/// <remarks>
/// Winograd's float result is not the direct product's: its transforms round too, and F(4x4, 3x3)'s coefficients
/// (up to 5 in B^T, 8 in A^T) amplify that. Each element is held to a bound that scales with the magnitude of the
/// sum it approximates, as the TF32 checks' are: <c>|out - ref| &lt;= 2^-e sum |w||x| + 1e-6</c>, with e = 16 for
/// F(2x2) and 14 for F(4x4). The worst ratios measured on these shapes (AVX-512, elements whose sum |w||x| is
/// above 1e-3) were 2^-18 and 2^-17.5: the bounds leave a factor 4 and 8 for other widths and orders of
/// rounding. (Float's own rounding is 2^-24.) The relative L2 errors on VGG's real shapes, which is what a run
/// sees, are stated in <c>WinogradTests</c>.
/// </remarks>
public static partial class KernelChecks
{
    /// <summary>
    /// Shapes for Winograd (3x3, stride 1): small and awkward; output channels over partial strips (21, 30) and
    /// tiles over partial rows; an image one pixel wide and one one pixel high; no padding and padding 2 (the
    /// output larger than the input); tiles in several blocks of the host code (F(4x4): 342 tiles, F(2x2): 1330);
    /// channels enough for several register-tile rows of reduction (70 in, 40 out).
    /// </summary>
    private static readonly Conv2dShape[] WinogradShapes =
    [
        ConvShapes[0],
        new(30, 7, 11, 21, 3, 3, 1, 1),
        new(23, 9, 6, 30, 3, 3, 1, 1),
        new(3, 64, 1, 9, 3, 3, 1, 1),
        new(4, 1, 13, 6, 3, 3, 1, 1),
        new(5, 6, 6, 4, 3, 3, 0, 1),
        new(3, 4, 5, 3, 3, 3, 2, 1),
        new(8, 70, 75, 10, 3, 3, 1, 1),
        new(70, 10, 9, 40, 3, 3, 1, 1),
    ];

    /// <summary>Kernel 5's shapes: the first few (the CPU accelerator runs its tiled product slowly).</summary>
    private static readonly Conv2dShape[] GpuWinogradShapes =
        [WinogradShapes[0], WinogradShapes[2], WinogradShapes[3], WinogradShapes[6]];

    /// <summary>The bound's exponent e of <see cref="WithinWinograd"/> for each tile.</summary>
    private static int BoundExponent(WinogradTile tile) => tile == WinogradTile.F2 ? 16 : 14;

    static partial void AddWinogradKernels(List<KernelCheck> checks)
    {
        foreach (var tile in new[] { WinogradTile.F2, WinogradTile.F4 })
        {
            string f = tile == WinogradTile.F2 ? "f2" : "f4";
            foreach (var shape in WinogradShapes)
                AddWinograd(checks, shape, KernelVariant.CpuWinograd, tile, $"cpu-winograd-{f}", Cpu);
            foreach (var shape in GpuWinogradShapes)
                AddWinograd(checks, shape, KernelVariant.Winograd, tile, $"winograd-{f}", Tiled);
        }

        // Kernel 4 with its weights packed once, when the layer is built (what Auto runs where it stays direct).
        foreach (var shape in CpuShapes)
        {
            string text = shape.ToString();
            var forward = new ConvVariants(KernelVariant.Cpu, KernelVariant.PerElement, PackedOnce: true);
            checks.Add(Cpu("conv2d.forward+relu/cpu-packed", text, k => ConvForward(k, shape, forward, true,
                "conv2d.forward+relu/cpu-packed", seed: 83, WithinFloatSums, offset: 3)));
            var backward = new ConvVariants(KernelVariant.PerElement, KernelVariant.Cpu, PackedOnce: true);
            checks.Add(Cpu("conv2d.backward+relu-bits/cpu-packed", text, k => ConvBackward(k, shape, backward,
                "+relu-bits", "conv2d.backward+relu-bits/cpu-packed", seed: 84, WithinFloatSums)));
        }
    }

    /// <summary>The checks of one Winograd variant and tile on one shape: forward with and without the ReLU, the
    /// input gradient unmasked and through the ReLU's kept output and its bits.</summary>
    private static void AddWinograd(List<KernelCheck> checks, Conv2dShape shape, KernelVariant variant,
        WinogradTile tile, string suffix, Func<string, string, Func<KernelSet, CheckResult>, KernelCheck> make)
    {
        string text = shape.ToString();
        var judge = WithinWinograd(tile);
        foreach (bool relu in new[] { false, true })
        {
            string name = $"conv2d.forward{(relu ? "+relu" : "")}/{suffix}";
            var variants = new ConvVariants(variant, KernelVariant.PerElement, ForwardTile: tile);
            checks.Add(make(name, text, k => ConvForward(k, shape, variants, relu, name, seed: 91, judge, offset: 2)));
        }
        foreach (string mask in new[] { "", "+relu-mask", "+relu-bits" })
        {
            string name = $"conv2d.backward{mask}/{suffix}";
            var variants = new ConvVariants(KernelVariant.PerElement, variant, InputGradientTile: tile);
            checks.Add(make(name, text, k => ConvBackward(k, shape, variants, mask, name, seed: 92, judge)));
        }
    }

    /// <summary>
    /// Winograd's judge (see the remarks): element i passes when <c>|actual - reference| &lt;= 2^-e magnitude[i] +
    /// 1e-6</c>, magnitude the same sum over |w| and |x|.
    /// </summary>
    private static Judge WithinWinograd(WinogradTile tile) =>
        (kernel, shape, actual, x, w, reference, magnitude) =>
        {
            var exact = reference(x, w);
            var size = magnitude(Array.ConvertAll(x, Math.Abs), Array.ConvertAll(w, Math.Abs));
            int exponent = BoundExponent(tile);
            double maxAbs = 0, maxRel = 0;
            int mismatches = 0, first = -1;
            for (int i = 0; i < actual.Length; i++)
            {
                double error = Math.Abs(actual[i] - exact[i]);
                if (double.IsNaN(error)) error = double.PositiveInfinity;
                maxAbs = Math.Max(maxAbs, error);
                maxRel = Math.Max(maxRel, error / Math.Max(Math.Abs(exact[i]), 1e-6));
                if (error <= Math.ScaleB(size[i], -exponent) + 1e-6) continue;
                if (mismatches++ == 0) first = i;
            }
            string detail = mismatches == 0 ? "" : string.Create(CultureInfo.InvariantCulture,
                $"{mismatches} of {actual.Length} outside 2^-{exponent} * sum|w||x| + 1e-6; first [{first}] " +
                $"{actual[first]:G9} vs {exact[first]:G9} (bound {Math.ScaleB(size[first], -exponent) + 1e-6:G3})");
            return new CheckResult(kernel, shape, maxAbs, maxRel, mismatches == 0, detail);
        };
}
