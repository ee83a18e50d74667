using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>The matrix root's element steps as host code for the CPU accelerator (where a kernel runs as scalar
/// code, one OS thread per simulated thread): rows of the matrix on every core, sums in double.</summary>
public sealed partial class MatrixRoot
{
    private unsafe void StartCpu(ArrayView<float> y, ArrayView<float> z, ArrayView<float> p, int n, float scale)
    {
        _host.Begin("matrix root");
        float* py = CpuHost.Pointer(y), pz = CpuHost.Pointer(z), pp = CpuHost.Pointer(p);
        _host.For(n, (first, end) =>
        {
            for (long i = (long)first * n; i < (long)end * n; i++)
            {
                py[i] = pp[i] * scale;
                pz[i] = i / n == i % n ? 1f : 0f;
            }
        });
    }

    private unsafe void FinishCpu(ArrayView<float> y, ArrayView<float> z, float yScale, float zScale)
    {
        _host.Begin("matrix root");
        float* py = CpuHost.Pointer(y), pz = CpuHost.Pointer(z);
        _host.ForElements(y.Length, (first, end) =>
        {
            for (long i = first; i < end; i++)
            {
                py[i] *= yScale;
                pz[i] *= zScale;
            }
        });
    }

    /// <summary>W = Z Y becomes T = (3 I - W) / 2 in place; returns <c>||W - I||_F / sqrt(n)</c>.</summary>
    private unsafe float StepCpu(ArrayView<float> t, int n)
    {
        _host.Begin("matrix root");
        float* pt = CpuHost.Pointer(t);
        var rows = new double[n];
        _host.For(n, (first, end) =>
        {
            for (int i = first; i < end; i++)
            {
                double sum = 0;
                for (int j = 0; j < n; j++)
                {
                    float w = pt[(long)i * n + j];
                    double d = w - (i == j ? 1.0 : 0.0);
                    sum += d * d;
                    pt[(long)i * n + j] = (i == j ? 1.5f : 0f) - 0.5f * w;
                }
                rows[i] = sum;
            }
        });
        return (float)Math.Sqrt(rows.Sum() / n);
    }

    private unsafe double FrobeniusNormCpu(ArrayView<float> p)
    {
        _host.Begin("matrix root");
        float* pp = CpuHost.Pointer(p);
        double sum = 0;
        for (long i = 0; i < p.Length; i++) sum += (double)pp[i] * pp[i];
        return Math.Sqrt(sum);
    }
}
