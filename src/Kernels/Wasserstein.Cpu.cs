using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of the Wasserstein-2 loss's steps, host code for the CPU accelerator: rows (channels) on
/// every core; the loss's sums in double.</summary>
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
                float sum = 0f;
                for (long m = 0; m < positions; m++) sum += row[m];
                pm[c] = sum / positions;
            }
        });
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
                float sum = 0f;
                for (int j = 0; j < n; j++) sum += pg[(long)c * n + j] * pm[j];
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
                float* row = pd + c * positions;
                float add = pb[c];
                for (long m = 0; m < positions; m++) row[m] += add;
            }
        });
    }
}
