using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

/// <summary>
/// What the host-code variants (<see cref="KernelVariant.Cpu"/>) share: the accelerator whose buffers
/// they read, the number of cores they use, the hand-over from the accelerator's stream to host code,
/// and the loops they are built from (ranges, rows, deterministic sums). One per <see cref="KernelSet"/>.
/// </summary>
/// <remarks>
/// ILGPU's CPU accelerator runs kernel code scalar through its own compiler and refuses SIMD
/// intrinsics inside kernels, so the fast CPU path is plain C# on the host (System.Runtime.Intrinsics,
/// all cores) over the accelerator's buffers, which are host memory. Kernels launched before a
/// host variant may still be running on the accelerator's threads, so every host variant first
/// waits for the stream (<see cref="Begin"/>); host variants themselves return when done.
/// </remarks>
public sealed unsafe class CpuHost : IDisposable
{
    /// <summary>
    /// Elements per chunk of a deterministic sum (<see cref="Sum"/>): its partial sums do not depend on
    /// the number of threads.
    /// </summary>
    public const int SumChunk = 16384;

    private readonly Accelerator _accelerator;
    private readonly List<(IntPtr Pointer, long Length)> _pool = []; // free buffers of Rent

    /// <summary>The host variants on <paramref name="accelerator"/>, on <paramref name="threads"/> cores.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Fewer than one thread.</exception>
    public CpuHost(Accelerator accelerator, int threads)
    {
        if (threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads,
                "The number of threads must be at least 1.");
        }
        _accelerator = accelerator;
        Threads = threads;
    }

    /// <summary>Cores the host variants use (<c>--threads</c>; by default every core).</summary>
    public int Threads { get; }

    /// <summary>Whether host variants can run on <paramref name="accelerator"/>: its buffers are host memory.</summary>
    public static bool Supports(Accelerator accelerator) => accelerator.AcceleratorType == AcceleratorType.CPU;

    /// <summary>
    /// Starts a host variant: refuses an accelerator whose buffers are not host memory, then waits until
    /// every kernel already launched on it has finished.
    /// </summary>
    /// <param name="what">The operation, for the message (e.g. "convolution").</param>
    /// <exception cref="InvalidOperationException">Not the CPU accelerator.</exception>
    public void Begin(string what)
    {
        if (!Supports(_accelerator))
        {
            throw new InvalidOperationException(
                $"The host-code {what} needs the CPU accelerator, not {_accelerator.Name.Trim()}.");
        }
        _accelerator.Synchronize();
    }

    /// <summary>The host address of element 0 of a CPU accelerator's view (null for an empty view).</summary>
    public static unsafe T* Pointer<T>(ArrayView<T> view)
        where T : unmanaged =>
        view.Length == 0 ? null : (T*)view.LoadEffectiveAddressAsPtr();

    /// <summary>
    /// Runs <paramref name="body"/>(first, end) over work items 0..count-1 on <see cref="Threads"/>
    /// cores, in contiguous ranges (neighbouring items share data). There are four ranges per core,
    /// taken as cores come free, so a core slowed by another process does not hold up the rest.
    /// </summary>
    public void For(int count, Action<int, int> body)
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
    /// Runs <paramref name="body"/>(row, c, y) for every row of a tensor of <paramref name="channels"/>
    /// planes of <paramref name="height"/> rows (row = c*height + y, the row's place in CHW order), rows
    /// spread over the cores as in <see cref="For"/>: the walk of every host variant that goes row by row.
    /// </summary>
    public void ForRows(int channels, int height, Action<int, int, int> body) =>
        For(channels * height, (first, end) =>
        {
            for (int row = first; row < end; row++) body(row, row / height, row % height);
        });

    /// <summary>
    /// Runs <paramref name="body"/>(first, end) over 0..count-1 in ranges of at least 4096
    /// elements on every core: for passes over memory, where a small vector is not worth a second core.
    /// </summary>
    public void ForElements(long count, Action<long, long> body)
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

    /// <summary>
    /// A deterministic sum over 0..count-1: <paramref name="rangeSum"/>(first, end) sums fixed
    /// chunks of <see cref="SumChunk"/> elements on every core, and the chunks' partial sums
    /// (doubles) are added in order. The result depends only on count, not on the number of threads.
    /// </summary>
    public double Sum(long count, Func<long, long, double> rangeSum)
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
    /// <see cref="Sum(long, Func{long, long, double})"/> of a summand's terms, each chunk summed by
    /// <see cref="AddTerms"/> from 0.
    /// </summary>
    public double Sum<TSummand>(long count, TSummand summand)
        where TSummand : struct, ILaneSummand =>
        Sum(count, (first, end) => AddTerms(0, first, end, summand));

    /// <summary>
    /// <paramref name="total"/> plus the terms of elements [first, end): a vector's worth at a time into float
    /// lanes (at the processor's width, <see cref="CpuVector"/>), the lanes then widened and added in double
    /// (<see cref="Simd{TVector}.WideSum"/>), and the last (end - first) mod lanes terms one by one in double.
    /// </summary>
    public static double AddTerms<TSummand>(double total, long first, long end, TSummand summand)
        where TSummand : struct, ILaneSummand => CpuVector.Bits switch
        {
            512 => AddLanes<TSummand, Vector512<float>>(total, first, end, summand),
            256 => AddLanes<TSummand, Vector256<float>>(total, first, end, summand),
            _ => AddLanes<TSummand, Vector128<float>>(total, first, end, summand),
        };

    private static double AddLanes<TSummand, TVector>(double total, long first, long end, TSummand summand)
        where TSummand : struct, ILaneSummand
        where TVector : struct
    {
        var lanes = Simd<TVector>.Zero;
        int count = Simd<TVector>.Count;
        long i = first;
        for (; i + count <= end; i += count) lanes = summand.Add(lanes, i);
        total += Simd<TVector>.WideSum(lanes);
        for (; i < end; i++) total += summand.At(i);
        return total;
    }

    /// <summary>
    /// A 64-byte aligned host buffer of at least <paramref name="length"/> floats (contents undefined), from this
    /// host's pool: the host variants' scratch (a core's panels, a Winograd block's transforms) is taken here per
    /// call and given back on dispose, so a call allocates nothing once the pool holds what the cores use at once.
    /// </summary>
    public Buffer Rent(long length)
    {
        lock (_pool)
        {
            for (int i = 0; i < _pool.Count; i++)
            {
                if (_pool[i].Length < length) continue;
                var found = _pool[i];
                _pool.RemoveAt(i);
                return new Buffer(this, found.Pointer, found.Length);
            }
        }
        var (pointer, size) = Buffer.AllocateRaw(length);
        return new Buffer(this, pointer, size);
    }

    private void Return(float* pointer, long length)
    {
        lock (_pool) _pool.Add((new IntPtr(pointer), length));
    }

    /// <summary>Frees the pool's buffers.</summary>
    public void Dispose()
    {
        lock (_pool)
        {
            foreach (var (pointer, _) in _pool) NativeMemory.AlignedFree((void*)pointer);
            _pool.Clear();
        }
    }

    /// <summary>A host buffer rented from <see cref="Rent"/> (given back on dispose), or a default one
    /// (null).</summary>
    public readonly struct Buffer : IDisposable
    {
        private readonly CpuHost? _owner;

        internal Buffer(CpuHost owner, IntPtr pointer, long length)
        {
            _owner = owner;
            Pointer = (float*)pointer;
            Length = length;
        }

        /// <summary>Element 0 (null for a default buffer).</summary>
        public float* Pointer { get; }

        /// <summary>Floats it holds.</summary>
        public long Length { get; }

        internal static (IntPtr Pointer, long Length) AllocateRaw(long length)
        {
            length = Math.Max(length, 16);
            return (new IntPtr(NativeMemory.AlignedAlloc((nuint)(length * sizeof(float)), 64)), length);
        }

        /// <summary>Gives the buffer back to its host's pool.</summary>
        public void Dispose()
        {
            if (_owner is not null && Pointer != null) _owner.Return(Pointer, Length);
        }
    }

    /// <summary>A 64-byte aligned host buffer that grows on demand and lives as long as its owner.</summary>
    internal sealed class Scratch : IDisposable
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

/// <summary>
/// One element's term of a host sum (the host twin of the device's <see cref="ISummand"/>): a vector of
/// elements at a time into float lanes, or one element in double for the rest of a chunk.
/// </summary>
public interface ILaneSummand
{
    /// <summary><paramref name="lanes"/> plus the terms of elements i.. i + lanes - 1, lane by lane, at the width of
    /// <typeparamref name="TVector"/> (one of the float vector types, <see cref="Simd{TVector}"/>).</summary>
    TVector Add<TVector>(TVector lanes, long i)
        where TVector : struct;

    /// <summary>The term of element <paramref name="i"/>, in double.</summary>
    double At(long i);
}
