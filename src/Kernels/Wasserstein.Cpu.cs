using System.Runtime.Intrinsics;
using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of the Wasserstein-2 loss's steps, host code for the CPU accelerator: rows (channels) on
/// every core, the passes over a row in vectors of the processor's width (<see cref="CpuVector"/>); the loss's
/// sums in double.</summary>
public sealed partial class Wasserstein
{
    private unsafe void RowMeansCpu(ArrayView<float> mean, ArrayView<float> features, GramShape s)
    {
        _host.Begin("Wasserstein-2 loss");
        float* pm = CpuHost.Pointer(mean), pf = CpuHost.Pointer(features);
        long positions = s.Positions;
        _host.For(s.Channels, (first, end) =>
        {
            for (int c = first; c < end; c++)
            {
                float* row = pf + c * positions;
                float sum = CpuVector.Bits switch
                {
                    512 => Sum<Vector512<float>>(row, positions),
                    256 => Sum<Vector256<float>>(row, positions),
                    _ => Sum<Vector128<float>>(row, positions),
                };
                pm[c] = sum / positions;
            }
        });
    }

    /// <summary>The sum of x's <paramref name="count"/> floats: a vector of partial sums (lane k takes the
    /// elements k, k + L, ...), its lanes added, then the tail.</summary>
    private static unsafe float Sum<TVector>(float* x, long count)
        where TVector : struct
    {
        var sums = Simd<TVector>.Zero;
        long m = 0;
        for (int l = Simd<TVector>.Count; m + l <= count; m += l)
            sums = Simd<TVector>.Add(sums, Simd<TVector>.Load(x + m));
        float sum = Simd<TVector>.Sum(sums);
        for (; m < count; m++) sum += x[m];
        return sum;
    }

    /// <summary>x . y over <paramref name="count"/> floats, summed as <see cref="Sum{TVector}"/> does.</summary>
    private static unsafe float Dot<TVector>(float* x, float* y, long count)
        where TVector : struct
    {
        var sums = Simd<TVector>.Zero;
        long m = 0;
        for (int l = Simd<TVector>.Count; m + l <= count; m += l)
            sums = Simd<TVector>.MultiplyAdd(Simd<TVector>.Load(x + m), Simd<TVector>.Load(y + m), sums);
        float sum = Simd<TVector>.Sum(sums);
        for (; m < count; m++) sum += x[m] * y[m];
        return sum;
    }

    private unsafe void CovarianceCpu(ArrayView<float> cov, ArrayView<float> mean, int n)
    {
        _host.Begin("Wasserstein-2 loss");
        float* pc = CpuHost.Pointer(cov), pm = CpuHost.Pointer(mean);
        _host.For(n, (first, end) =>
        {
            for (int i = first; i < end; i++)
            for (int j = 0; j < n; j++)
                pc[(long)i * n + j] = pc[(long)i * n + j] - pm[i] * pm[j] + (i == j ? Epsilon : 0f);
        });
    }

    private unsafe void LossCpu(ArrayView<float> loss, ArrayView<float> mean, ArrayView<float> targetMean,
        ArrayView<float> cov, ArrayView<float> root, int n, int rootStride, float weightOverC, float traceTerm)
    {
        _host.Begin("Wasserstein-2 loss");
        float* pl = CpuHost.Pointer(loss), pm = CpuHost.Pointer(mean), pt = CpuHost.Pointer(targetMean);
        float* pc = CpuHost.Pointer(cov), pr = CpuHost.Pointer(root);
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            double d = pm[i] - pt[i];
            sum += d * d + pc[(long)i * n + i] - 2.0 * pr[(long)i * rootStride];
        }
        pl[0] += (float)(weightOverC * sum + traceTerm);
    }

    private unsafe void GradientMatrixCpu(ArrayView<float> g, int n, float weightOverC)
    {
        _host.Begin("Wasserstein-2 loss");
        float* pg = CpuHost.Pointer(g);
        _host.For(n, (first, end) =>
        {
            for (int i = first; i < end; i++)
            for (int j = 0; j < n; j++)
                pg[(long)i * n + j] = weightOverC * ((i == j ? 1f : 0f) - pg[(long)i * n + j]);
        });
    }

    private unsafe void MeanGradientCpu(ArrayView<float> b, ArrayView<float> g, ArrayView<float> mean,
        ArrayView<float> targetMean, GramShape s, float weightOverC)
    {
        _host.Begin("Wasserstein-2 loss");
        float* pb = CpuHost.Pointer(b), pg = CpuHost.Pointer(g);
        float* pm = CpuHost.Pointer(mean), pt = CpuHost.Pointer(targetMean);
        int n = s.Channels;
        _host.For(n, (first, end) =>
        {
            for (int c = first; c < end; c++)
            {
                float* row = pg + (long)c * n;
                float sum = CpuVector.Bits switch
                {
                    512 => Dot<Vector512<float>>(row, pm, n),
                    256 => Dot<Vector256<float>>(row, pm, n),
                    _ => Dot<Vector128<float>>(row, pm, n),
                };
                pb[c] = 2f / s.Positions * (weightOverC * (pm[c] - pt[c]) - sum);
            }
        });
    }

    private unsafe void AddRowsCpu(ArrayView<float> dFeatures, ArrayView<float> b, GramShape s)
    {
        _host.Begin("Wasserstein-2 loss");
        float* pd = CpuHost.Pointer(dFeatures), pb = CpuHost.Pointer(b);
        long positions = s.Positions;
        _host.For(s.Channels, (first, end) =>
        {
            for (int c = first; c < end; c++)
            {
                switch (CpuVector.Bits)
                {
                    case 512: AddToRow<Vector512<float>>(pd + c * positions, pb[c], positions); break;
                    case 256: AddToRow<Vector256<float>>(pd + c * positions, pb[c], positions); break;
                    default: AddToRow<Vector128<float>>(pd + c * positions, pb[c], positions); break;
                }
            }
        });
    }

    /// <summary>row += add over <paramref name="count"/> floats.</summary>
    private static unsafe void AddToRow<TVector>(float* row, float add, long count)
        where TVector : struct
    {
        var v = Simd<TVector>.Broadcast(add);
        long m = 0;
        for (int l = Simd<TVector>.Count; m + l <= count; m += l)
            Simd<TVector>.Store(Simd<TVector>.Add(Simd<TVector>.Load(row + m), v), row + m);
        for (; m < count; m++) row[m] += add;
    }
}
