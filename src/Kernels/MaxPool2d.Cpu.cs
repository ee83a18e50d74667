using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ILGPU;

namespace IlgpuStyle.Kernels;

/// <summary>Kernel 2 of max pooling, host code for the CPU accelerator: one output row (forward) or input
/// row (backward) per work item on every core. A pass over memory in kernel 1's order of comparison, so the
/// argmax (and the tie-breaking, and a NaN that never wins) is kernel 1's; written without branches on the
/// data, whose winners in a feature map are as unpredictable as coin tosses (the branches cost 4x the pass).
/// </summary>
public sealed partial class MaxPool2d
{
    private unsafe void ForwardCpu(ArrayView<float> output, ArrayView<byte> argmax, ArrayView<float> input, ChwShape s,
        bool reluInput)
    {
        _host.Begin("max pooling");
        float* po = CpuHost.Pointer(output), pi = CpuHost.Pointer(input);
        byte* pa = CpuHost.Pointer(argmax);
        int outWidth = s.Width / Window;
        ForOutputRows(_host, s, (o, corner) =>
        {
            float* top = pi + corner, bottom = top + s.Width;
            int ox = 0;
            // Four windows per step, as 128-bit vectors (every processor has them; the pass is bound by memory): the
            // windows' four places are the even and odd elements of their two rows, taken apart into four vectors,
            // and each 'if (v > best)' of kernel 1 becomes a select in every lane.
            for (; ox + 4 <= outWidth; ox += 4)
            {
                float* t = top + ox * Window, b = bottom + ox * Window;
                var t0 = Vector128.Load(t);
                var t1 = Vector128.Load(t + 4);
                var b0 = Vector128.Load(b);
                var b1 = Vector128.Load(b + 4);
                var best = Evens(t0, t1);
                var place = Vector128<int>.Zero;
                Take(ref best, ref place, Odds(t0, t1), 1);
                Take(ref best, ref place, Evens(b0, b1), 2);
                Take(ref best, ref place, Odds(b0, b1), 3);
                Vector128.Store(best, po + o + ox);
                if (reluInput)
                {
                    var none = Vector128.LessThanOrEqual(best, Vector128<float>.Zero).AsInt32();
                    place = Vector128.ConditionalSelect(none, Vector128.Create((int)NoWinner), place);
                }
                var places = Vector128.Narrow(place.AsUInt32(), place.AsUInt32());
                Unsafe.WriteUnaligned(pa + o + ox, Vector128.Narrow(places, places).AsUInt32().ToScalar());
            }
            for (; ox < outWidth; ox++)
            {
                int x = ox * Window, at = 0;
                float bestValue = top[x];
                if (top[x + 1] > bestValue) { bestValue = top[x + 1]; at = 1; }
                if (bottom[x] > bestValue) { bestValue = bottom[x]; at = 2; }
                if (bottom[x + 1] > bestValue) { bestValue = bottom[x + 1]; at = 3; }
                Store(po, pa, o + ox, bestValue, at, reluInput);
            }
        });
    }

    /// <summary>Elements 0 and 2 of <paramref name="a"/>, then of <paramref name="b"/>: the first places of four
    /// windows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Evens(Vector128<float> a, Vector128<float> b) =>
        Vector128.ConditionalSelect(Vector128.Create(0, 0, -1, -1).AsSingle(),
            Vector128.Shuffle(b, Vector128.Create(0, 0, 0, 2)), Vector128.Shuffle(a, Vector128.Create(0, 2, 0, 0)));

    /// <summary>Elements 1 and 3 of <paramref name="a"/>, then of <paramref name="b"/>: the second places.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Odds(Vector128<float> a, Vector128<float> b) =>
        Vector128.ConditionalSelect(Vector128.Create(0, 0, -1, -1).AsSingle(),
            Vector128.Shuffle(b, Vector128.Create(1, 1, 1, 3)), Vector128.Shuffle(a, Vector128.Create(1, 3, 1, 1)));

    /// <summary>Kernel 1's <c>if (value &gt; best) { best = value; place = p; }</c> in every lane, as
    /// selects.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Take(ref Vector128<float> best, ref Vector128<int> place, Vector128<float> value, int p)
    {
        var greater = Vector128.GreaterThan(value, best);
        best = Vector128.ConditionalSelect(greater, value, best);
        place = Vector128.ConditionalSelect(greater.AsInt32(), Vector128.Create(p), place);
    }

    private static unsafe void Store(float* output, byte* argmax, long o, float best, int place, bool reluInput)
    {
        output[o] = best;
        argmax[o] = reluInput && best <= 0f ? NoWinner : (byte)place;
    }

    /// <summary>
    /// Kernel 2's backward, one output row per work item: both input rows of its windows written in one pass, four
    /// windows (sixteen input elements) per step as 128-bit vectors. Each window's gradient goes to the place that
    /// won and +0 to the others: the gradient's bits kept or cleared by a comparison's mask (no branch on the data,
    /// and no NaN * 0). Element by element, from each input row's side, the pass cost twice the forward's.
    /// </summary>
    private unsafe void BackwardCpu(ArrayView<float> dInput, ArrayView<float> dOutput, ArrayView<byte> argmax,
        ChwShape s)
    {
        _host.Begin("max pooling");
        float* pd = CpuHost.Pointer(dInput), pg = CpuHost.Pointer(dOutput);
        byte* pa = CpuHost.Pointer(argmax);
        int outWidth = s.Width / Window, outHeight = s.Height / Window;
        ForOutputRows(_host, s, (o, corner) =>
        {
            float* upper = pd + corner, lower = upper + s.Width;
            float* gradient = pg + o;
            byte* won = pa + o;
            // Lanes (0, 0, 1, 1) and (2, 2, 3, 3) of four windows are the places of an input row's eight elements:
            // the upper row's are 0 and 1, the lower row's 2 and 3, alternating. (The shuffles' indices are written
            // at each call: the JIT makes one instruction of a constant's only.)
            var upperPlaces = Vector128.Create(0, 1, 0, 1);
            var lowerPlaces = Vector128.Create(2, 3, 2, 3);
            int ox = 0;
            for (; ox + 4 <= outWidth; ox += 4)
            {
                var g = Vector128.Load(gradient + ox).AsInt32();
                var bytes = Vector128.CreateScalar(Unsafe.ReadUnaligned<uint>(won + ox)).AsByte();
                var places = Vector128.WidenLower(Vector128.WidenLower(bytes)).AsInt32();
                var g01 = Vector128.Shuffle(g, Vector128.Create(0, 0, 1, 1));
                var g23 = Vector128.Shuffle(g, Vector128.Create(2, 2, 3, 3));
                var p01 = Vector128.Shuffle(places, Vector128.Create(0, 0, 1, 1));
                var p23 = Vector128.Shuffle(places, Vector128.Create(2, 2, 3, 3));
                float* u = upper + ox * Window, l = lower + ox * Window;
                Vector128.Store((g01 & Vector128.Equals(p01, upperPlaces)).AsSingle(), u);
                Vector128.Store((g23 & Vector128.Equals(p23, upperPlaces)).AsSingle(), u + 4);
                Vector128.Store((g01 & Vector128.Equals(p01, lowerPlaces)).AsSingle(), l);
                Vector128.Store((g23 & Vector128.Equals(p23, lowerPlaces)).AsSingle(), l + 4);
            }
            for (; ox < outWidth; ox++)
            {
                int place = won[ox], bits = BitConverter.SingleToInt32Bits(gradient[ox]);
                upper[ox * Window] = BitConverter.Int32BitsToSingle(bits & (place == 0 ? -1 : 0));
                upper[ox * Window + 1] = BitConverter.Int32BitsToSingle(bits & (place == 1 ? -1 : 0));
                lower[ox * Window] = BitConverter.Int32BitsToSingle(bits & (place == 2 ? -1 : 0));
                lower[ox * Window + 1] = BitConverter.Int32BitsToSingle(bits & (place == 3 ? -1 : 0));
            }
            if (s.Width % Window != 0) upper[s.Width - 1] = lower[s.Width - 1] = 0f;
            // The last row of an odd-sized input is in no window: cleared beside the last windows' rows.
            if (s.Height % Window != 0 && o / outWidth % outHeight == outHeight - 1)
                new Span<float>(lower + s.Width, s.Width).Clear();
        });
    }
}
