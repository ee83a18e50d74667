using System.Runtime.Intrinsics;
using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>
/// Kernel 2 of the window copies, host code for the CPU accelerator: one row of the window at a time
/// (contiguous in both tensors), rows spread over the cores.
/// </summary>
public sealed partial class Window
{
    private unsafe void CropCpu(ArrayView<float> window, ArrayView<float> tensor, WindowShape s)
    {
        _host.Begin("window copy");
        float* pw = CpuHost.Pointer(window), pt = CpuHost.Pointer(tensor);
        ForRows(s, (row, offset) =>
            new ReadOnlySpan<float>(pt + offset, s.Width).CopyTo(new Span<float>(pw + (long)row * s.Width, s.Width)));
    }

    private unsafe void AddCpu(ArrayView<float> tensor, ArrayView<float> window, WindowShape s)
    {
        _host.Begin("window copy");
        float* pw = CpuHost.Pointer(window), pt = CpuHost.Pointer(tensor);
        ForRows(s, (row, offset) =>
        {
            float* source = pw + (long)row * s.Width, destination = pt + offset;
            switch (CpuVector.Bits)
            {
                case 512: AddRow<Vector512<float>>(destination, source, s.Width); break;
                case 256: AddRow<Vector256<float>>(destination, source, s.Width); break;
                default: AddRow<Vector128<float>>(destination, source, s.Width); break;
            }
        });
    }

    /// <summary>destination[x] += source[x] for x &lt; width.</summary>
    private static unsafe void AddRow<TVector>(float* destination, float* source, int width)
        where TVector : struct
    {
        int x = 0;
        for (int n = Simd<TVector>.Count; x + n <= width; x += n)
        {
            Simd<TVector>.Store(Simd<TVector>.Add(Simd<TVector>.Load(destination + x), Simd<TVector>.Load(source + x)),
                destination + x);
        }
        for (; x < width; x++) destination[x] += source[x];
    }

    /// <summary>
    /// Runs <paramref name="body"/>(row, offset) for every row of the window (row = c*h + y of the
    /// compact copy) with the tensor's flat index of that row's first element, on every core.
    /// </summary>
    private void ForRows(WindowShape s, Action<int, long> body) =>
        _host.ForRows(s.Tensor.Channels, s.Height,
            (row, c, y) => body(row, ((long)c * s.Tensor.Height + s.Y + y) * s.Tensor.Width + s.X));
}
