using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 2 of the enlargement, host code for the CPU accelerator (where kernel 1 runs as scalar code, one OS
/// thread per simulated thread, and a launch costs tens of milliseconds): kernel 1's arithmetic in the same
/// order, so the two agree to the bit, with each output column's and row's taps and weights worked out once per
/// launch (<see cref="KernelTaps"/>) instead of once per element, and the output rows spread over the cores.
/// </summary>
public sealed partial class Upsample
{
    private unsafe void ForwardCpu(ArrayView<float> output, ArrayView<float> input, UpsampleParameters p)
    {
        _host.Begin("upsampling");
        float* po = CpuHost.Pointer(output), pi = CpuHost.Pointer(input);
        var (i, o) = (p.Input, p.Output);
        bool bilinear = p.Filter == UpsampleFilter.Bilinear;
        var (columns, columnWeights) = KernelTaps(o.Width, i.Width, bilinear);
        var (rows, rowWeights) = KernelTaps(o.Height, i.Height, bilinear);
        int taps = bilinear ? 2 : 4;
        _host.ForRows(o.Channels, o.Height, (row, c, y) =>
        {
            // This output row's input rows and their weights, then each output column's taps across them.
            float* plane = pi + (long)c * i.PlaneLength;
            float* to = po + (long)row * o.Width;
            int firstRow = y * taps;
            if (bilinear)
            {
                float w0 = rowWeights[firstRow], w1 = rowWeights[firstRow + 1];
                float* top = plane + (long)rows[firstRow] * i.Width;
                float* bottom = plane + (long)rows[firstRow + 1] * i.Width;
                for (int x = 0; x < o.Width; x++)
                {
                    int first = 2 * x;
                    float left = columnWeights[first], right = columnWeights[first + 1];
                    int a = columns[first], b = columns[first + 1];
                    float sum = 0f;
                    sum += w0 * (left * top[a] + right * top[b]);
                    sum += w1 * (left * bottom[a] + right * bottom[b]);
                    to[x] = Math.Min(Math.Max(sum, p.Low), p.High);
                }
                return;
            }
            float* line0 = plane + (long)rows[firstRow] * i.Width;
            float* line1 = plane + (long)rows[firstRow + 1] * i.Width;
            float* line2 = plane + (long)rows[firstRow + 2] * i.Width;
            float* line3 = plane + (long)rows[firstRow + 3] * i.Width;
            float v0 = rowWeights[firstRow], v1 = rowWeights[firstRow + 1];
            float v2 = rowWeights[firstRow + 2], v3 = rowWeights[firstRow + 3];
            for (int x = 0; x < o.Width; x++)
            {
                int first = 4 * x;
                float sum = 0f;
                sum += v0 * Across(line0, columns, columnWeights, first);
                sum += v1 * Across(line1, columns, columnWeights, first);
                sum += v2 * Across(line2, columns, columnWeights, first);
                sum += v3 * Across(line3, columns, columnWeights, first);
                to[x] = Math.Min(Math.Max(sum, p.Low), p.High);
            }
        });
    }

    /// <summary>One input row's four taps for an output column, summed as kernel 1 sums them.</summary>
    private static unsafe float Across(float* line, int[] columns, float[] weights, int first)
    {
        float across = 0f;
        for (int tap = 0; tap < 4; tap++) across += weights[first + tap] * line[columns[first + tap]];
        return across;
    }

    /// <summary>For each output position along one axis (a column, or a row), the edge-clamped input positions it
    /// reads and their weights, <paramref name="bilinear"/> ? 2 : 4 of each in a row: kernel 1's per-element
    /// arithmetic in float (the reference's <see cref="Taps"/> works in double).</summary>
    private static (int[] Index, float[] Weight) KernelTaps(int outputLength, int inputLength, bool bilinear)
    {
        int taps = bilinear ? 2 : 4;
        var index = new int[outputLength * taps];
        var weight = new float[outputLength * taps];
        for (int o = 0; o < outputLength; o++)
        {
            float s = Source(o, inputLength, outputLength);
            int first = (int)MathF.Floor(s);
            float f = s - first;
            for (int t = 0; t < taps; t++)
            {
                int offset = bilinear ? t : t - 1;
                index[o * taps + t] = ClampIndex(first + offset, inputLength);
                weight[o * taps + t] = bilinear ? (t == 0 ? 1f - f : f) : CubicWeight(MathF.Abs(f - offset));
            }
        }
        return (index, weight);
    }
}
