using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Network;

/// <summary>
/// Every device allocation of the network and the objective goes through one instance of this
/// class, so that allocations can be counted (an evaluation must allocate nothing) and the peak
/// device footprint reported (SPEC.md: <c>peak_device_bytes</c>).
/// </summary>
public sealed class DeviceMemory(Accelerator accelerator) : IDisposable
{
    private readonly List<MemoryBuffer> _owned = [];

    /// <summary>The accelerator buffers are allocated on.</summary>
    public Accelerator Accelerator { get; } = accelerator;

    /// <summary>How many buffers have been allocated so far.</summary>
    public int AllocationCount { get; private set; }

    /// <summary>Bytes held now.</summary>
    public long CurrentBytes { get; private set; }

    /// <summary>The most bytes held at any one time.</summary>
    public long PeakBytes { get; private set; }

    /// <summary>Allocates n floats (uninitialised), owned by this instance until it is disposed.</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Floats(long n) => Track(Accelerator.Allocate1D<float>(n));

    /// <summary>Allocates n bytes (uninitialised), owned by this instance.</summary>
    public MemoryBuffer1D<byte, Stride1D.Dense> Bytes(long n) => Track(Accelerator.Allocate1D<byte>(n));

    /// <summary>Allocates n 32-bit words (uninitialised), owned by this instance.</summary>
    public MemoryBuffer1D<uint, Stride1D.Dense> Words(long n) => Track(Accelerator.Allocate1D<uint>(n));

    /// <summary>Allocates and fills a float buffer from host data.</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] data)
    {
        var buffer = Floats(data.Length);
        buffer.CopyFromCPU(data);
        return buffer;
    }

    /// <summary>Frees one buffer this instance allocated (a run's prepared filters that no later scale reads).
    /// </summary>
    public void Free(MemoryBuffer buffer)
    {
        if (!_owned.Remove(buffer)) throw new ArgumentException("The buffer is not this memory's.", nameof(buffer));
        CurrentBytes -= buffer.LengthInBytes;
        buffer.Dispose();
    }

    /// <summary>A device tensor of the given shape.</summary>
    public DeviceTensor Tensor(ChwShape shape) => new(Floats(shape.Length).View, shape);

    /// <summary>
    /// Starts a scope: disposing the returned object frees every buffer allocated after this call
    /// (e.g. the temporary network that captures a style image's targets). The peak still counts them.
    /// </summary>
    public IDisposable Scope() => new ScopeGuard(this, _owned.Count);

    private sealed class ScopeGuard(DeviceMemory memory, int start) : IDisposable
    {
        public void Dispose()
        {
            for (int i = memory._owned.Count - 1; i >= start; i--)
            {
                var buffer = memory._owned[i];
                memory.CurrentBytes -= buffer.LengthInBytes;
                buffer.Dispose();
                memory._owned.RemoveAt(i);
            }
        }
    }

    private T Track<T>(T buffer) where T : MemoryBuffer
    {
        _owned.Add(buffer);
        AllocationCount++;
        CurrentBytes += buffer.LengthInBytes;
        PeakBytes = Math.Max(PeakBytes, CurrentBytes);
        return buffer;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var buffer in _owned) buffer.Dispose();
        _owned.Clear();
        CurrentBytes = 0;
    }
}

/// <summary>A device view with the <c>(C, H, W)</c> shape of the activation it holds.</summary>
public readonly record struct DeviceTensor(ArrayView<float> View, ChwShape Shape);
