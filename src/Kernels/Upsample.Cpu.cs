using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 2 of the enlargement, host code for the CPU accelerator (where kernel 1 runs as scalar code, one OS
/// thread per simulated thread, and a launch costs tens of milliseconds): kernel 1's arithmetic in the same
/// order, so the two agree to the bit, with each output column's taps and weights worked out once per launch
/// instead of once per element, and the output rows spread over the cores.
/// </summary>
public sealed partial class Upsample
{
    private unsafe void ForwardCpu(ArrayView<float> output, ArrayView<float> input, UpsampleParameters p)
    {
        _host.Begin("upsampling");
        float* po = CpuHost.Pointer(output), pi = CpuHost.Pointer(input);
        var (i, o) = (p.Input, p.Output);
        bool bilinear = p.Filter == UpsampleFilter.Bilinear;
        int taps = bilinear ? 2 : 4;
        var (columns, columnWeights) = Taps(o.Width, i.Width, bilinear);
        _host.ForRows(o.Channels, o.Height, (row, c, y) =>
        {
            // This row's taps (input rows) and their weights, as kernel 1 works them out for each element.
            float sy = Source(y, i.Height, o.Height);
            int y0 = (int)MathF.Floor(sy);
            float fy = sy - y0;
            float* plane = pi + (long)c * i.PlaneLength;
            float* to = po + (long)row * o.Width;
            for (int x = 0; x < o.Width; x++)
            {
                int first = x * taps;
                float sum = 0f;
                if (bilinear)
                {
                    for (int ty = 0; ty < 2; ty++)
                    {
                        float wy = ty == 0 ? 1f - fy : fy;
                        float* line = plane + (long)ClampIndex(y0 + ty, i.Height) * i.Width;
                        sum += wy * (columnWeights[first] * line[columns[first]] +
                                     columnWeights[first + 1] * line[columns[first + 1]]);
                    }
                }
                else
                {
                    for (int tapY = 0; tapY < 4; tapY++)
                    {
                        int ty = tapY - 1;
                        float wy = CubicWeight(MathF.Abs(fy - ty));
                        float* line = plane + (long)ClampIndex(y0 + ty, i.Height) * i.Width;
                        float across = 0f;
                        for (int tapX = 0; tapX < 4; tapX++)
                            across += columnWeights[first + tapX] * line[columns[first + tapX]];
                        sum += wy * across;
                    }
                }
                to[x] = Math.Min(Math.Max(sum, p.Low), p.High);
            }
        });
    }

    /// <summary>For each output position along one axis, the edge-clamped input positions it reads and their
    /// weights, <paramref name="bilinear"/> ? 2 : 4 of each in a row: kernel 1's per-element arithmetic.</summary>
    private static (int[] Index, float[] Weight) Taps(int outputLength, int inputLength, bool bilinear)
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
