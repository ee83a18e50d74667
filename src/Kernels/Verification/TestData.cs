using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels.Verification;

/// <summary>Seeded inputs and device buffers for the checks.</summary>
public static class TestData
{
    /// <summary>
    /// n uniform values in [low, high) from a fixed seed. Each value is rounded to float first, so
    /// that the double-precision reference and the float kernel see exactly the same input.
    /// </summary>
    public static double[] Uniform(Random random, int n, double low = -1, double high = 1)
    {
        var values = new double[n];
        for (int i = 0; i < n; i++)
            values[i] = (float)(low + (high - low) * random.NextDouble());
        return values;
    }

    /// <summary>A device buffer holding <paramref name="values"/> as floats.</summary>
    public static MemoryBuffer1D<float, Stride1D.Dense> Upload(Accelerator accelerator, double[] values) =>
        accelerator.Allocate1D(Array.ConvertAll(values, v => (float)v));

    /// <summary>
    /// A device buffer of n NaNs, for outputs: an element the kernel forgets to write stays NaN and
    /// fails every comparison.
    /// </summary>
    public static MemoryBuffer1D<float, Stride1D.Dense> Poisoned(Accelerator accelerator, int n)
    {
        var buffer = accelerator.Allocate1D<float>(n);
        buffer.CopyFromCPU(Enumerable.Repeat(float.NaN, n).ToArray());
        return buffer;
    }

    /// <summary>
    /// A device buffer of n copies of <paramref name="value"/> (a value no kernel should leave behind).
    /// </summary>
    public static MemoryBuffer1D<T, Stride1D.Dense> Filled<T>(Accelerator accelerator, int n, T value)
        where T : unmanaged
    {
        var buffer = accelerator.Allocate1D<T>(n);
        buffer.CopyFromCPU(Enumerable.Repeat(value, n).ToArray());
        return buffer;
    }

    /// <summary>Waits for the device and copies a buffer of any element type back.</summary>
    public static T[] DownloadAll<T>(MemoryBuffer1D<T, Stride1D.Dense> buffer)
        where T : unmanaged
    {
        buffer.Accelerator.Synchronize();
        return buffer.GetAsArray1D();
    }

    /// <summary>Waits for the device and copies a buffer back.</summary>
    public static float[] Download(MemoryBuffer1D<float, Stride1D.Dense> buffer)
    {
        buffer.Accelerator.Synchronize();
        return buffer.GetAsArray1D();
    }
}
