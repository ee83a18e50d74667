using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace IlgpuStyle.Kernels;

/// <summary>
/// The vector width the host-code variants run at: the widest of 512, 256 and 128 bits that the processor
/// accelerates (AVX-512; AVX2; SSE or ARM64's NEON), as .NET's JIT reports it. A <c>Vector512</c> on a
/// processor without AVX-512 is two 256-bit halves (twice the registers), and on one without AVX2 plain
/// scalar code, 100 times slower; so each host kernel is written once over a vector type
/// (<see cref="Simd{TVector}"/>) and runs at this width, with its register tile shaped for it
/// (<see cref="CpuGemm"/>).
/// </summary>
/// <remarks>
/// The width is fixed for the process (the JIT decides it at start-up; <c>DOTNET_EnableAVX512=0</c> and
/// <c>DOTNET_EnableAVX2=0</c> switch the wider ones off, which is how CI checks all three on one machine).
/// </remarks>
public static class CpuVector
{
    /// <summary>512, 256 or 128.</summary>
    public static int Bits { get; } =
        Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : 128;

    /// <summary>Floats per vector: 16, 8 or 4.</summary>
    public static int Lanes => Bits / 32;

    /// <summary>Architectural vector registers at this width: 32 with AVX-512 and on ARM64, 16 with AVX2 or SSE.
    /// </summary>
    public static int Registers { get; } =
        Bits == 512 || System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported ? 32 : 16;

    /// <summary>For messages and reports, e.g. <c>AVX-512 (512-bit)</c>.</summary>
    public static string Describe() => Bits switch
    {
        512 => "512-bit vectors (AVX-512)",
        256 => "256-bit vectors (AVX2)",
        _ => System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported ? "128-bit vectors (NEON)" : "128-bit vectors (SSE)",
    };
}

/// <summary>
/// The vector operations the host kernels use, for one vector type: <c>Vector512&lt;float&gt;</c>,
/// <c>Vector256&lt;float&gt;</c> or <c>Vector128&lt;float&gt;</c>. Each method tests the type, a test the JIT
/// folds away when it compiles a kernel for one of them, so a kernel written over <typeparamref name="TVector"/>
/// is the same machine code as one written over that type by hand.
/// </summary>
/// <typeparam name="TVector">One of the three float vector types.</typeparam>
internal static unsafe class Simd<TVector>
    where TVector : struct
{
    /// <summary>Floats per vector.</summary>
    public static int Count
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => typeof(TVector) == typeof(Vector512<float>) ? 16 : typeof(TVector) == typeof(Vector256<float>) ? 8 : 4;
    }

    /// <summary>All lanes 0.</summary>
    public static TVector Zero
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => default;
    }

    /// <summary>Count floats from <paramref name="p"/> (no alignment needed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Load(float* p)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) return As(Vector512.Load(p));
        if (typeof(TVector) == typeof(Vector256<float>)) return As(Vector256.Load(p));
        return As(Vector128.Load(p));
    }

    /// <summary>Stores the lanes at <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(TVector v, float* p)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) Vector512.Store(V512(v), p);
        else if (typeof(TVector) == typeof(Vector256<float>)) Vector256.Store(V256(v), p);
        else Vector128.Store(V128(v), p);
    }

    /// <summary><paramref name="value"/> in every lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Broadcast(float value)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) return As(Vector512.Create(value));
        if (typeof(TVector) == typeof(Vector256<float>)) return As(Vector256.Create(value));
        return As(Vector128.Create(value));
    }

    /// <summary>
    /// <c>a * b + c</c>, fused (one rounding) where the processor has FMA, as every AVX2, AVX-512 and ARM64 one
    /// does; a multiply and an add on x64 without AVX2 (where a fused one would be emulated in software).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector MultiplyAdd(TVector a, TVector b, TVector c)
    {
        if (typeof(TVector) == typeof(Vector512<float>))
            return As(Vector512.MultiplyAddEstimate(V512(a), V512(b), V512(c)));
        if (typeof(TVector) == typeof(Vector256<float>))
            return As(Vector256.MultiplyAddEstimate(V256(a), V256(b), V256(c)));
        return As(Vector128.MultiplyAddEstimate(V128(a), V128(b), V128(c)));
    }

    /// <summary>a + b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Add(TVector a, TVector b)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) return As(V512(a) + V512(b));
        if (typeof(TVector) == typeof(Vector256<float>)) return As(V256(a) + V256(b));
        return As(V128(a) + V128(b));
    }

    /// <summary>a - b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Subtract(TVector a, TVector b)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) return As(V512(a) - V512(b));
        if (typeof(TVector) == typeof(Vector256<float>)) return As(V256(a) - V256(b));
        return As(V128(a) - V128(b));
    }

    /// <summary>a * s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Multiply(TVector a, float s)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) return As(V512(a) * s);
        if (typeof(TVector) == typeof(Vector256<float>)) return As(V256(a) * s);
        return As(V128(a) * s);
    }

    /// <summary>max(a, 0) lane by lane (a NaN lane stays NaN, as in the scalar ReLU <c>Math.Max</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Relu(TVector a)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) return As(Vector512.Max(V512(a), Vector512<float>.Zero));
        if (typeof(TVector) == typeof(Vector256<float>)) return As(Vector256.Max(V256(a), Vector256<float>.Zero));
        return As(Vector128.Max(V128(a), Vector128<float>.Zero));
    }

    /// <summary>
    /// a where <paramref name="mask"/> &gt; 0, else 0, lane by lane: a ReLU's backward through its kept output.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector WherePositive(TVector mask, TVector a)
    {
        if (typeof(TVector) == typeof(Vector512<float>))
        {
            return As(Vector512.ConditionalSelect(Vector512.GreaterThan(V512(mask), Vector512<float>.Zero), V512(a),
                Vector512<float>.Zero));
        }
        if (typeof(TVector) == typeof(Vector256<float>))
        {
            return As(Vector256.ConditionalSelect(Vector256.GreaterThan(V256(mask), Vector256<float>.Zero), V256(a),
                Vector256<float>.Zero));
        }
        return As(Vector128.ConditionalSelect(Vector128.GreaterThan(V128(mask), Vector128<float>.Zero), V128(a),
            Vector128<float>.Zero));
    }

    /// <summary>
    /// a where bit e of <paramref name="bits"/> is set, else 0, for lane e: a ReLU's backward through its bit mask.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector WhereBits(uint bits, TVector a)
    {
        if (typeof(TVector) == typeof(Vector512<float>))
        {
            var lanes = Vector512.Create(1u, 2u, 4u, 8u, 16u, 32u, 64u, 128u, 256u, 512u, 1024u, 2048u, 4096u, 8192u,
                16384u, 32768u);
            var keep = Vector512.Equals(Vector512.Create(bits) & lanes, lanes).AsSingle();
            return As(Vector512.ConditionalSelect(keep, V512(a), Vector512<float>.Zero));
        }
        if (typeof(TVector) == typeof(Vector256<float>))
        {
            var lanes = Vector256.Create(1u, 2u, 4u, 8u, 16u, 32u, 64u, 128u);
            var keep = Vector256.Equals(Vector256.Create(bits) & lanes, lanes).AsSingle();
            return As(Vector256.ConditionalSelect(keep, V256(a), Vector256<float>.Zero));
        }
        var lanes128 = Vector128.Create(1u, 2u, 4u, 8u);
        var keep128 = Vector128.Equals(Vector128.Create(bits) & lanes128, lanes128).AsSingle();
        return As(Vector128.ConditionalSelect(keep128, V128(a), Vector128<float>.Zero));
    }

    /// <summary>|a| lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Abs(TVector a)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) return As(Vector512.Abs(V512(a)));
        if (typeof(TVector) == typeof(Vector256<float>)) return As(Vector256.Abs(V256(a)));
        return As(Vector128.Abs(V128(a)));
    }

    /// <summary>The sum of the float lanes, in float, in the vector type's own order (its <c>Sum</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(TVector a)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) return Vector512.Sum(V512(a));
        if (typeof(TVector) == typeof(Vector256<float>)) return Vector256.Sum(V256(a));
        return Vector128.Sum(V128(a));
    }

    /// <summary>The sum of the lanes, each widened to double first (so that no lane's bits are lost): the lower
    /// half's lanes, then the upper half's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double WideSum(TVector a)
    {
        if (typeof(TVector) == typeof(Vector512<float>))
            return Vector512.Sum(Vector512.WidenLower(V512(a))) + Vector512.Sum(Vector512.WidenUpper(V512(a)));
        if (typeof(TVector) == typeof(Vector256<float>))
            return Vector256.Sum(Vector256.WidenLower(V256(a))) + Vector256.Sum(Vector256.WidenUpper(V256(a)));
        return Vector128.Sum(Vector128.WidenLower(V128(a))) + Vector128.Sum(Vector128.WidenUpper(V128(a)));
    }

    /// <summary>One bit per lane, lane e in bit e: whether the lane is &gt; 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint PositiveBits(TVector a)
    {
        if (typeof(TVector) == typeof(Vector512<float>))
            return (uint)Vector512.GreaterThan(V512(a), Vector512<float>.Zero).ExtractMostSignificantBits();
        if (typeof(TVector) == typeof(Vector256<float>))
            return Vector256.GreaterThan(V256(a), Vector256<float>.Zero).ExtractMostSignificantBits();
        return Vector128.GreaterThan(V128(a), Vector128<float>.Zero).ExtractMostSignificantBits();
    }

    /// <summary>a * b lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Multiply(TVector a, TVector b)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) return As(V512(a) * V512(b));
        if (typeof(TVector) == typeof(Vector256<float>)) return As(V256(a) * V256(b));
        return As(V128(a) * V128(b));
    }

    /// <summary>a / b lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Divide(TVector a, TVector b)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) return As(V512(a) / V512(b));
        if (typeof(TVector) == typeof(Vector256<float>)) return As(V256(a) / V256(b));
        return As(V128(a) / V128(b));
    }

    /// <summary>The square root of each lane (correctly rounded, as <c>MathF.Sqrt</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVector Sqrt(TVector a)
    {
        if (typeof(TVector) == typeof(Vector512<float>)) return As(Vector512.Sqrt(V512(a)));
        if (typeof(TVector) == typeof(Vector256<float>)) return As(Vector256.Sqrt(V256(a)));
        return As(Vector128.Sqrt(V128(a)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector As<TFrom>(TFrom value)
        where TFrom : struct => Unsafe.As<TFrom, TVector>(ref value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> V512(TVector value) => Unsafe.As<TVector, Vector512<float>>(ref value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> V256(TVector value) => Unsafe.As<TVector, Vector256<float>>(ref value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> V128(TVector value) => Unsafe.As<TVector, Vector128<float>>(ref value);
}
