using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// The host code's vector width (<see cref="CpuVector"/>) and its register tiles at every width. CI runs these (and
/// the kernel checks) three times: as the machine is, with <c>DOTNET_EnableAVX512=0</c> and with
/// <c>DOTNET_EnableAVX2=0</c>.
/// </summary>
public sealed class CpuVectorTests
{
    /// <summary>
    /// The width is the widest the JIT was allowed: a CI run that switches AVX-512 or AVX2 off really runs the
    /// narrower code (a misspelt knob would leave it at 512 bits and fail here), and the register tile fits the
    /// registers of that width.
    /// </summary>
    [Test]
    public void TheWidthIsTheWidestTheJitWasAllowed()
    {
        bool noAvx512 = Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") == "0";
        bool noAvx2 = Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0";
        TestContext.Out.WriteLine($"host code at {CpuVector.Describe()}, register tile {CpuGemm.Rows} x " +
                                  $"{CpuGemm.Columns}");
        Assert.Multiple(() =>
        {
            if (noAvx2) Assert.That(CpuVector.Bits, Is.EqualTo(128));
            else if (noAvx512) Assert.That(CpuVector.Bits, Is.EqualTo(Avx2.IsSupported ? 256 : 128));
            else if (Avx512F.IsSupported) Assert.That(CpuVector.Bits, Is.EqualTo(512));
            Assert.That(CpuGemm.Columns, Is.EqualTo(2 * CpuVector.Lanes));
            Assert.That(2 * CpuGemm.Rows + 3, Is.LessThanOrEqualTo(CpuVector.Registers),
                "accumulators, two vectors of B and a broadcast stay in registers");
        });
    }

    /// <summary>
    /// Both register tiles (8 and 6 rows) at each of the three widths compute
    /// <c>c = (init or c) + a^T b</c>, then the ReLU, against a double-precision sum: the code of every width is
    /// checked on any machine (a width the processor lacks runs in software, slowly but exactly).
    /// </summary>
    [TestCase(512, 8)]
    [TestCase(512, 6)]
    [TestCase(256, 8)]
    [TestCase(256, 6)]
    [TestCase(128, 8)]
    [TestCase(128, 6)]
    public unsafe void EveryRegisterTileComputesItsProduct(int bits, int rows)
    {
        int lanes = bits / 32, columns = 2 * lanes, depth = 37;
        long ldb = columns + 3, ldc = columns + 5;
        var random = new Random(bits + rows);
        float[] a = Values(random, depth * rows), b = Values(random, depth * (int)ldb);
        float[] start = Values(random, rows), c = Values(random, rows * (int)ldc);
        foreach (bool init in new[] { true, false })
        foreach (bool relu in new[] { false, true })
        {
            var expected = new double[rows * columns];
            for (int i = 0; i < rows; i++)
            for (int j = 0; j < columns; j++)
            {
                double sum = init ? start[i] : c[i * ldc + j];
                for (int r = 0; r < depth; r++) sum += (double)a[r * rows + i] * b[r * ldb + j];
                expected[i * columns + j] = relu ? Math.Max(sum, 0) : sum;
            }
            var actual = (float[])c.Clone();
            fixed (float* pa = a, pb = b, ps = start, pc = actual)
            {
                float* first = init ? ps : null;
                if (bits == 512) Tile<Vector512<float>>(rows, pa, pb, depth, ldb, pc, ldc, first, relu);
                else if (bits == 256) Tile<Vector256<float>>(rows, pa, pb, depth, ldb, pc, ldc, first, relu);
                else Tile<Vector128<float>>(rows, pa, pb, depth, ldb, pc, ldc, first, relu);
            }
            for (int i = 0; i < rows; i++)
            for (int j = 0; j < columns; j++)
            {
                Assert.That(actual[i * ldc + j], Is.EqualTo(expected[i * columns + j]).Within(1e-5),
                    $"{bits} bits, {rows} rows, init {init}, relu {relu}: c[{i}, {j}]");
            }
            for (int i = 0; i < rows; i++)
            for (int j = columns; j < ldc; j++)
                Assert.That(actual[i * ldc + j], Is.EqualTo(c[i * ldc + j]), "outside the tile: untouched");
        }
    }

    private static unsafe void Tile<TVector>(int rows, float* a, float* b, int depth, long ldb, float* c, long ldc,
        float* init, bool relu)
        where TVector : struct
    {
        if (rows == 8) CpuGemm.MicroKernel8<TVector>(a, b, depth, ldb, c, ldc, init, relu);
        else CpuGemm.MicroKernel6<TVector>(a, b, depth, ldb, c, ldc, init, relu);
    }

    /// <summary>The masks and sums the host passes use, at each width, against scalar code.</summary>
    [Test]
    public unsafe void TheVectorOperationsOfEveryWidthMatchScalarCode()
    {
        var random = new Random(3);
        float[] x = Values(random, 16), m = Values(random, 16);
        uint bits = 0xB5A3u;
        fixed (float* px = x, pm = m)
        {
            Check<Vector512<float>>(px, pm);
            Check<Vector256<float>>(px, pm);
            Check<Vector128<float>>(px, pm);
        }

        void Check<TVector>(float* px, float* pm)
            where TVector : struct
        {
            int n = Simd<TVector>.Count;
            var lanes = new float[n];
            fixed (float* pl = lanes)
            {
                Simd<TVector>.Store(Simd<TVector>.WherePositive(Simd<TVector>.Load(pm), Simd<TVector>.Load(px)), pl);
                for (int e = 0; e < n; e++) Assert.That(lanes[e], Is.EqualTo(m[e] > 0 ? x[e] : 0f), $"{n} lanes");
                Simd<TVector>.Store(Simd<TVector>.WhereBits(bits, Simd<TVector>.Load(px)), pl);
                for (int e = 0; e < n; e++)
                    Assert.That(lanes[e], Is.EqualTo(((bits >> e) & 1) != 0 ? x[e] : 0f), $"{n} lanes");
                uint positive = 0;
                double sum = 0;
                for (int e = 0; e < n; e++)
                {
                    if (x[e] > 0) positive |= 1u << e;
                    sum += x[e];
                }
                Assert.That(Simd<TVector>.PositiveBits(Simd<TVector>.Load(px)), Is.EqualTo(positive), $"{n} lanes");
                Assert.That(Simd<TVector>.WideSum(Simd<TVector>.Load(px)), Is.EqualTo(sum).Within(1e-12));
            }
        }
    }

    private static float[] Values(Random random, int n) =>
        Enumerable.Range(0, n).Select(_ => (float)(2 * random.NextDouble() - 1)).ToArray();
}
