using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// What the host-code CPU variants share: the number of cores they use, the host address of a CPU
/// accelerator's view, and the hand-over from the accelerator's stream to host code.
/// </summary>
/// <remarks>
/// ILGPU's CPU accelerator runs kernel code scalar through its own compiler and refuses SIMD
/// intrinsics inside kernels, so the fast CPU path is plain C# on the host (System.Runtime.Intrinsics,
/// all cores) over the accelerator's buffers, which are host memory. Kernels launched before a
/// host variant may still be running on the accelerator's threads, so every host variant first
/// waits for the stream (<see cref="Begin"/>); host variants themselves return when done.
/// </remarks>
public static class CpuHost
{
    private static int _threads = Environment.ProcessorCount;

    /// <summary>Cores the host variants use (<c>--threads</c>; default: every core).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not positive.</exception>
    public static int Threads
    {
        get => _threads;
        set => _threads = value > 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "The number of threads must be at least 1.");
    }

    /// <summary>Whether host variants can run on <paramref name="accelerator"/>: its buffers are host memory.</summary>
    public static bool Supports(Accelerator accelerator) => accelerator.AcceleratorType == AcceleratorType.CPU;

    /// <summary>Refuses to run a host variant on an accelerator whose buffers are not host memory.</summary>
    /// <param name="accelerator">Where the operation was asked to run.</param>
    /// <param name="what">The operation, for the message (e.g. "convolution").</param>
    /// <exception cref="InvalidOperationException">Not the CPU accelerator.</exception>
    public static void Require(Accelerator accelerator, string what)
    {
        if (!Supports(accelerator))
        {
            throw new InvalidOperationException(
                $"The host-code {what} needs the CPU accelerator, not {accelerator.Name.Trim()}.");
        }
    }

    /// <summary>
    /// Whether an operation runs in host code: as asked, or by default as <see cref="KernelChoice.HostCode"/> says.
    /// </summary>
    /// <exception cref="ArgumentException">Host code asked of an accelerator whose buffers are not host
    /// memory.</exception>
    public static bool Resolve(Accelerator accelerator, bool? hostCode)
    {
        if (hostCode == true && !Supports(accelerator))
        {
            throw new ArgumentException(
                $"Host code runs only on the CPU accelerator, not on {accelerator.Name.Trim()}.");
        }
        return hostCode ?? KernelChoice.For(accelerator).HostCode;
    }

    /// <summary>Waits until every kernel already launched on <paramref name="accelerator"/> has finished.</summary>
    public static void Begin(Accelerator accelerator) => accelerator.Synchronize();

    /// <summary>The host address of element 0 of a CPU accelerator's view (null for an empty view).</summary>
    public static unsafe T* Pointer<T>(ArrayView<T> view)
        where T : unmanaged =>
        view.Length == 0 ? null : (T*)view.LoadEffectiveAddressAsPtr();

    /// <summary>
    /// Runs <paramref name="body"/>(first, end) over work items 0..count-1 on <see cref="Threads"/>
    /// cores, in contiguous ranges (neighbouring items share data). There are four ranges per core,
    /// taken as cores come free, so a core slowed by another process does not hold up the rest.
    /// </summary>
    public static void For(int count, Action<int, int> body)
    {
        int threads = Math.Min(Threads, count);
        if (threads <= 1)
        {
            if (count > 0) body(0, count);
            return;
        }
        int ranges = Math.Min(count, 4 * threads);
        Parallel.For(0, ranges, new ParallelOptions { MaxDegreeOfParallelism = threads },
            t => body((int)((long)count * t / ranges), (int)((long)count * (t + 1) / ranges)));
    }

    /// <summary>
    /// Elements per partial sum of <see cref="Sum"/>: the partials do not depend on the number of threads.
    /// </summary>
    private const int SumChunk = 16384;

    /// <summary>
    /// A deterministic sum over 0..count-1: <paramref name="rangeSum"/>(first, end) sums fixed
    /// chunks of 16384 elements on every core, and the chunks' partial sums (doubles) are added in
    /// order. The result depends only on count, not on the number of threads.
    /// </summary>
    public static double Sum(long count, Func<long, long, double> rangeSum)
    {
        int chunks = (int)((count + SumChunk - 1) / SumChunk);
        double[] partials = System.Buffers.ArrayPool<double>.Shared.Rent(Math.Max(chunks, 1));
        For(chunks, (first, end) =>
        {
            for (int chunk = first; chunk < end; chunk++)
                partials[chunk] = rangeSum((long)chunk * SumChunk, Math.Min(count, (long)(chunk + 1) * SumChunk));
        });
        double sum = 0;
        for (int chunk = 0; chunk < chunks; chunk++) sum += partials[chunk];
        System.Buffers.ArrayPool<double>.Shared.Return(partials);
        return sum;
    }

    /// <summary>
    /// Runs <paramref name="body"/>(first, end) over 0..count-1 in ranges of at least 4096
    /// elements on every core: for passes over memory, where a small vector is not worth a second core.
    /// </summary>
    public static void ForElements(long count, Action<long, long> body)
    {
        const int Grain = 4096;
        int pieces = (int)Math.Min((count + Grain - 1) / Grain, 64L * Threads);
        if (pieces <= 1)
        {
            if (count > 0) body(0, count);
            return;
        }
        For(pieces, (first, end) => body(count * first / pieces, count * end / pieces));
    }

    /// <summary>A 64-byte aligned host buffer that grows on demand and lives as long as its owner.</summary>
    internal sealed unsafe class Scratch : IDisposable
    {
        private float* _data;
        private long _length;

        /// <summary>At least <paramref name="length"/> floats (contents undefined).</summary>
        public float* Get(long length)
        {
            if (length > _length)
            {
                NativeMemory.AlignedFree(_data);
                _data = (float*)NativeMemory.AlignedAlloc((nuint)(length * sizeof(float)), 64);
                _length = length;
            }
            return _data;
        }

        public void Dispose()
        {
            NativeMemory.AlignedFree(_data);
            _data = null;
            _length = 0;
        }
    }
}
