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
            int x = 0;
            for (; x + 16 <= s.Width; x += 16)
                Vector512.Store(Vector512.Load(destination + x) + Vector512.Load(source + x), destination + x);
            for (; x < s.Width; x++) destination[x] += source[x];
        });
    }

    /// <summary>
    /// Runs <paramref name="body"/>(row, offset) for every row of the window (row = c*h + y of the
    /// compact copy) with the tensor's flat index of that row's first element, on every core.
    /// </summary>
    private void ForRows(WindowShape s, Action<int, long> body) =>
        _host.ForRows(s.Tensor.Channels, s.Height,
            (row, c, y) => body(row, ((long)c * s.Tensor.Height + s.Y + y) * s.Tensor.Width + s.X));
}
