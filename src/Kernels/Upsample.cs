using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>The interpolation <see cref="Upsample"/> uses.</summary>
public enum UpsampleFilter
{
    /// <summary>2x2 taps, tent weights. A convex combination: never leaves the input's range.</summary>
    Bilinear,

    /// <summary>4x4 taps, Keys' cubic convolution with a = -0.5: sharper than bilinear, and exact
    /// for quadratics, but it overshoots at edges (weights can be negative).</summary>
    Bicubic,
}

/// <summary>
/// The scalars of one <see cref="Upsample"/> launch.
/// </summary>
/// <param name="Input">(C, h, w), the smaller tensor.</param>
/// <param name="Output">(C, H, W) with H &gt;= h and W &gt;= w.</param>
/// <param name="Filter">Bilinear or bicubic.</param>
/// <param name="Low">Every output value is clamped to at least this (negative infinity: no clamp).</param>
/// <param name="High">... and at most this.</param>
public readonly record struct UpsampleParameters(
    ChwShape Input, ChwShape Output, UpsampleFilter Filter, float Low, float High);

/// <summary>
/// Enlarges a (C, h, w) tensor to (C, H, W) by bilinear or bicubic interpolation, each channel on
/// its own: how a coarse-to-fine run carries its image and Adam's moments to the next scale.
/// </summary>
/// <remarks>
/// <para>Glossary: C channels; h, w the input's height and width; H, W the output's.
/// Layout (SPEC.md): <c>input[(c*h + y)*w + x]</c>, <c>output[(c*H + Y)*W + X]</c>.</para>
/// <para>Output pixel X samples the input at <c>s = (X + 0.5) * w/W - 0.5</c>, so that pixel
/// centres line up (PyTorch's <c>align_corners=False</c>, PIL). Taps that fall outside the input
/// repeat its edge pixel. Only enlarging is allowed: when shrinking, a point sample like this would
/// skip input pixels and alias (<c>ImageResize</c> widens its filter for that).</para>
/// <para>The cubic kernel is Keys' with a = -0.5 (PIL's bicubic; PyTorch uses -0.75): with -0.5
/// the interpolant reproduces every quadratic, so smooth images come through with third-order
/// accuracy. Its negative lobes overshoot at sharp edges; callers that need values to stay in a
/// range (pixels, second moments) pass it as the clamp.</para>
/// <para>Reading order: the launcher, kernel 1 (one thread per output element), the CPU reference, kernel 2
/// (host code, Upsample.Cpu.cs: the same arithmetic, each row's and column's taps worked out once).</para>
/// </remarks>
public sealed partial class Upsample
{
    /// <summary>Keys' free parameter a of the cubic convolution kernel.</summary>
    public const double CubicA = -0.5;

    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, UpsampleParameters>> _forward;

    /// <summary>The kernel for <paramref name="accelerator"/>, compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernel runs.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    public Upsample(Accelerator accelerator, KernelChoice choice, CpuHost host)
    {
        _choice = choice;
        _host = host;
        _forward = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, UpsampleParameters>(ForwardKernel));
    }

    /// <summary>Writes all of <paramref name="output"/> (C, H, W) from <paramref name="input"/> (C, h, w),
    /// each value clamped to [<paramref name="low"/>, <paramref name="high"/>].</summary>
    public void Forward(ArrayView<float> output, ArrayView<float> input, ChwShape outputShape, ChwShape inputShape,
        UpsampleFilter filter, float low = float.NegativeInfinity, float high = float.PositiveInfinity,
        KernelVariant variant = KernelVariant.Auto)
    {
        Validate(outputShape, inputShape, low, high);
        Require.Length(output, outputShape.Length, nameof(output));
        Require.Length(input, inputShape.Length, nameof(input));
        var p = new UpsampleParameters(inputShape, outputShape, filter, low, high);
        switch (KernelChoice.Resolve(variant, _choice.Upsample()))
        {
            case KernelVariant.PerElement: _forward.Value(outputShape.Length, output, input, p); break;
            case KernelVariant.Cpu: ForwardCpu(output, input, p); break;
            default: throw KernelChoice.NotOffered("upsampling", variant);
        }
    }

    private static void Validate(ChwShape output, ChwShape input, double low, double high)
    {
        output.Validate(nameof(output));
        input.Validate(nameof(input));
        if (output.Channels != input.Channels)
            throw new ArgumentException($"Upsampling keeps the channels: {input} cannot become {output}.");
        if (output.Height < input.Height || output.Width < input.Width)
            throw new ArgumentException($"Upsampling only enlarges: {input} cannot become {output}.");
        if (!(low <= high)) throw new ArgumentException($"The clamp range [{low}, {high}] is empty.");
    }

    // ---------------------------------------------------------------- kernel 1: one thread per output element

    /// <summary>One thread per output element: 2x2 (bilinear) or 4x4 (bicubic) taps of its channel.</summary>
    public static void ForwardKernel(Index1D index, ArrayView<float> output, ArrayView<float> input,
        UpsampleParameters p)
    {
        var o = p.Output;
        var i = p.Input;
        int x = index % o.Width;
        int y = index / o.Width % o.Height;
        int c = index / o.PlaneLength;
        float sy = Source(y, i.Height, o.Height);
        float sx = Source(x, i.Width, o.Width);
        int y0 = (int)XMath.Floor(sy);
        int x0 = (int)XMath.Floor(sx);
        float fy = sy - y0;
        float fx = sx - x0;
        int plane = c * i.PlaneLength;

        float sum = 0f;
        if (p.Filter == UpsampleFilter.Bilinear)
        {
            for (int ty = 0; ty < 2; ty++)
            {
                float wy = ty == 0 ? 1f - fy : fy;
                int row = plane + ClampIndex(y0 + ty, i.Height) * i.Width;
                float left = input[row + ClampIndex(x0, i.Width)];
                float right = input[row + ClampIndex(x0 + 1, i.Width)];
                sum += wy * ((1f - fx) * left + fx * right);
            }
        }
        else
        {
            // Taps at offsets -1, 0, 1, 2 from floor(s), at distances 1 + f, f, 1 - f, 2 - f. Counted from
            // 0 (offset = tap - 1): ILGPU's OpenCL C writes a negative int constant as its unsigned bits
            // (-1 as 4294967295), which compilers warn about.
            for (int tapY = 0; tapY < 4; tapY++)
            {
                int ty = tapY - 1;
                float wy = CubicWeight(XMath.Abs(fy - ty));
                int row = plane + ClampIndex(y0 + ty, i.Height) * i.Width;
                float across = 0f;
                for (int tapX = 0; tapX < 4; tapX++)
                {
                    int tx = tapX - 1;
                    across += CubicWeight(XMath.Abs(fx - tx)) * input[row + ClampIndex(x0 + tx, i.Width)];
                }
                sum += wy * across;
            }
        }
        output[index] = XMath.Min(XMath.Max(sum, p.Low), p.High);
    }

    /// <summary>Where output position <paramref name="o"/> samples the input, in input pixels (float, for the
    /// device and the host code alike).</summary>
    private static float Source(int o, int inputLength, int outputLength) =>
        (o + 0.5f) * inputLength / outputLength - 0.5f;

    /// <summary>Keys' cubic convolution kernel at distance t &gt;= 0 (float, for the device).</summary>
    private static float CubicWeight(float t)
    {
        const float a = (float)CubicA;
        if (t <= 1f) return ((a + 2f) * t - (a + 3f)) * t * t + 1f;
        if (t < 2f) return ((a * t - 5f * a) * t + 8f * a) * t - 4f * a;
        return 0f;
    }

    /// <summary>Edge pixels repeat beyond the border.</summary>
    private static int ClampIndex(int index, int length) => XMath.Min(XMath.Max(index, 0), length - 1);

    // ---------------------------------------------------------------- CPU reference

    /// <summary>
    /// Reference for <see cref="Forward"/>, in double: for each output pixel, the source coordinate
    /// in each direction, its taps and their weights, then the weighted sum of the taps' products.
    /// </summary>
    public static void ForwardReference(double[] output, double[] input, ChwShape outputShape, ChwShape inputShape,
        UpsampleFilter filter, double low = double.NegativeInfinity, double high = double.PositiveInfinity)
    {
        Validate(outputShape, inputShape, low, high);
        Require.Length(output, outputShape.Length, nameof(output));
        Require.Length(input, inputShape.Length, nameof(input));
        var rows = new (int Index, double Weight)[outputShape.Height][];
        for (int y = 0; y < outputShape.Height; y++) rows[y] = Taps(y, inputShape.Height, outputShape.Height, filter);
        var columns = new (int Index, double Weight)[outputShape.Width][];
        for (int x = 0; x < outputShape.Width; x++) columns[x] = Taps(x, inputShape.Width, outputShape.Width, filter);

        for (int c = 0; c < outputShape.Channels; c++)
        for (int y = 0; y < outputShape.Height; y++)
        for (int x = 0; x < outputShape.Width; x++)
        {
            double sum = 0;
            foreach (var (sourceY, wy) in rows[y])
            foreach (var (sourceX, wx) in columns[x])
                sum += wy * wx * input[inputShape.Index(c, sourceY, sourceX)];
            output[outputShape.Index(c, y, x)] = Math.Min(Math.Max(sum, low), high);
        }
    }

    /// <summary>The input indices (edge-clamped) and weights that output position <paramref name="o"/> reads.</summary>
    public static (int Index, double Weight)[] Taps(int o, int inputLength, int outputLength, UpsampleFilter filter)
    {
        double s = (o + 0.5) * inputLength / outputLength - 0.5;
        int first = (int)Math.Floor(s);
        var taps = new List<(int, double)>();
        int from = filter == UpsampleFilter.Bilinear ? first : first - 1;
        int to = filter == UpsampleFilter.Bilinear ? first + 1 : first + 2;
        for (int k = from; k <= to; k++)
        {
            double distance = Math.Abs(s - k);
            double weight = filter == UpsampleFilter.Bilinear ? 1 - distance : CubicReference(distance);
            taps.Add((Math.Clamp(k, 0, inputLength - 1), weight));
        }
        return [.. taps];
    }

    /// <summary>Keys (1981), "Cubic convolution interpolation for digital image processing", eq. (15).</summary>
    private static double CubicReference(double t)
    {
        const double a = CubicA;
        if (t <= 1) return (a + 2) * t * t * t - (a + 3) * t * t + 1;
        if (t < 2) return a * t * t * t - 5 * a * t * t + 8 * a * t - 4 * a;
        return 0;
    }
}
