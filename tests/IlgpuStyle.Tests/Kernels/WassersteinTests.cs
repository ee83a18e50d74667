using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Verification;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Losses;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// The Wasserstein-2 style loss's pieces: the double eigendecomposition by reconstruction, the Newton-Schulz
/// roots and their fallback against it, the layer loss's gradient against finite differences, and the device
/// tap against the double reference.
/// </summary>
public sealed class WassersteinTests : AcceleratorTest
{
    /// <inheritdoc/>
    protected override OwnAccelerator CreateOwnAccelerator() => OwnAccelerator.ProjectCpu();

    /// <summary>Q diag(values) Q^T with Q a random orthogonal matrix (Gram-Schmidt on Gaussian columns).</summary>
    private static double[] WithSpectrum(double[] values, int seed)
    {
        int n = values.Length;
        var random = new Random(seed);
        var q = new double[n * n];
        for (int i = 0; i < q.Length; i++) q[i] = random.NextDouble() * 2 - 1;
        for (int j = 0; j < n; j++)
        {
            for (int pass = 0; pass < 2; pass++) // twice: orthogonal to rounding
            for (int k = 0; k < j; k++)
            {
                double dot = 0;
                for (int i = 0; i < n; i++) dot += q[i * n + j] * q[i * n + k];
                for (int i = 0; i < n; i++) q[i * n + j] -= dot * q[i * n + k];
            }
            double norm = 0;
            for (int i = 0; i < n; i++) norm += q[i * n + j] * q[i * n + j];
            norm = Math.Sqrt(norm);
            for (int i = 0; i < n; i++) q[i * n + j] /= norm;
        }
        return SymmetricEigen.Compose(values, q, n, l => l);
    }

    private static double[] Geometric(int n, double condition) =>
        Enumerable.Range(0, n).Select(i => Math.Pow(condition, -(double)i / Math.Max(n - 1, 1))).ToArray();

    private static double[] RandomSymmetric(int n, int seed)
    {
        var random = new Random(seed);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++)
            a[i * n + j] = a[j * n + i] = random.NextDouble() * 2 - 1;
        return a;
    }

    /// <summary>A = V diag(l) V^T and V^T V = I (checked with the plain product, not the one under test), l
    /// ascending.</summary>
    private static void AssertDecomposes(double[] a, int n, double[] values, double[] vectors, double tolerance)
    {
        var scaled = new double[n * n];
        for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++)
            scaled[i * n + k] = vectors[i * n + k] * values[k];
        var back = Wasserstein.Multiply(scaled, SymmetricEigen.Transpose(vectors, n), n);
        double size = Math.Max(a.Max(Math.Abs), double.Epsilon);
        Assert.That(a.Zip(back, (x, y) => Math.Abs(x - y)).Max() / size, Is.LessThan(tolerance), "V diag(l) V^T = A");
        var gram = Wasserstein.Multiply(SymmetricEigen.Transpose(vectors, n), vectors, n);
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            Assert.That(gram[i * n + j], Is.EqualTo(i == j ? 1 : 0).Within(tolerance), $"V^T V = I at [{i}, {j}]");
        Assert.That(values, Is.Ordered.Ascending);
    }

    [TestCase(1)]
    [TestCase(7)]
    [TestCase(64)]
    [TestCase(300)]
    public void EigendecompositionReconstructsTheMatrix(int n)
    {
        var a = RandomSymmetric(n, seed: n);
        var (values, vectors) = SymmetricEigen.DecomposeReference(a, n);
        AssertDecomposes(a, n, values, vectors, 1e-11);
        var identity = SymmetricEigen.Compose(values, vectors, n, _ => 1);
        for (int i = 0; i < n; i++)
            Assert.That(identity[i * n + i], Is.EqualTo(1).Within(1e-11), "V V^T = I");
    }

    /// <summary>
    /// The version for vectors and cores: a decomposition by reconstruction, the reference's eigenvalues, and the
    /// same result on one core as on three (awkward sizes: one to three, seven, a partial vector, tiles and column
    /// blocks; around the divide and conquer's leaf size (32) and its splits (64, 128, 256); 512, the largest
    /// layer).
    /// </summary>
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(7)]
    [TestCase(31)]
    [TestCase(32)]
    [TestCase(33)]
    [TestCase(64)]
    [TestCase(65)]
    [TestCase(67)]
    [TestCase(127)]
    [TestCase(129)]
    [TestCase(257)]
    [TestCase(300)]
    [TestCase(511)]
    [TestCase(512)]
    public void FastEigendecompositionIsTheReferences(int n)
    {
        var a = RandomSymmetric(n, seed: n + 1);
        var (values, vectors) = SymmetricEigen.Decompose(a, n, threads: 3);
        AssertDecomposes(a, n, values, vectors, 1e-11);
        var (reference, _) = SymmetricEigen.DecomposeReference(a, n);
        for (int k = 0; k < n; k++) Assert.That(values[k], Is.EqualTo(reference[k]).Within(1e-12), $"l[{k}]");
        var (oneCore, oneCoreVectors) = SymmetricEigen.Decompose(a, n, threads: 1);
        Assert.That(oneCore, Is.EqualTo(values), "eigenvalues independent of the cores");
        Assert.That(oneCoreVectors, Is.EqualTo(vectors), "eigenvectors independent of the cores");
    }

    /// <summary>
    /// The reduction (<see cref="SymmetricEigen.Reduce"/>) with its orthogonal matrix formed from blocks of
    /// reflections: <c>Q^T Q = I</c> and <c>A = Q T Q^T</c> by the plain products, and the same bits on one core as
    /// on three. Awkward sizes for blocks of 32 among n - 2 reflections: none (1, 2), one (3), one block short, whole
    /// or with one over (33, 34, 35), two (66) and a partial third (65, 67), the cores' threshold (127, 128, 129),
    /// 257 and 512.
    /// </summary>
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(31)]
    [TestCase(33)]
    [TestCase(34)]
    [TestCase(35)]
    [TestCase(65)]
    [TestCase(66)]
    [TestCase(67)]
    [TestCase(127)]
    [TestCase(128)]
    [TestCase(129)]
    [TestCase(257)]
    [TestCase(512)]
    public void BlockedReflectionsFormTheReductionsOrthogonalMatrix(int n)
    {
        var a = RandomSymmetric(n, seed: 3 * n);
        var workspace = new SymmetricEigen.Workspace(n);
        SymmetricEigen.Reduce(a, n, threads: 3, workspace);
        var qt = workspace.Vectors;
        var t = new double[n * n];
        for (int i = 0; i < n; i++) t[i * n + i] = workspace.D[i];
        for (int i = 1; i < n; i++) t[i * n + i - 1] = t[(i - 1) * n + i] = workspace.E[i];
        var q = SymmetricEigen.Transpose(qt, n);
        var back = Wasserstein.Multiply(Wasserstein.Multiply(q, t, n), qt, n);
        double size = a.Max(Math.Abs), worst = 0;
        int at = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double error = Math.Abs(a[i] - back[i]);
            if (error > worst) (worst, at) = (error, i);
        }
        Assert.That(worst / size, Is.LessThan(1e-13), $"Q T Q^T = A, worst at [{at / n}, {at % n}]");
        var gram = Wasserstein.Multiply(qt, q, n);
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            Assert.That(gram[i * n + j], Is.EqualTo(i == j ? 1 : 0).Within(1e-13), $"Q^T Q = I at [{i}, {j}]");
        var oneCore = new SymmetricEigen.Workspace(n);
        SymmetricEigen.Reduce(a, n, threads: 1, oneCore);
        Assert.That(oneCore.Vectors, Is.EqualTo(qt), "Q^T independent of the cores");
        Assert.That(oneCore.D, Is.EqualTo(workspace.D), "T's diagonal independent of the cores");
        Assert.That(oneCore.E, Is.EqualTo(workspace.E), "T's subdiagonal independent of the cores");
    }

    /// <summary>
    /// B V without V (the W2 loss's R V): the same eigenvalues as the decomposition that forms V, to the bit (the
    /// same reduction and divide and conquer), and B V equal to B times that V to rounding; B Q from the reflections
    /// in blocks on 3 cores is the 1-core one to the bit. Sizes around the blocks of 32 reflections.
    /// </summary>
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(33)]
    [TestCase(34)]
    [TestCase(67)]
    [TestCase(129)]
    [TestCase(257)]
    [TestCase(512)]
    public void AppliedDecompositionIsBTimesTheEigenvectors(int n)
    {
        var a = RandomSymmetric(n, seed: n + 5);
        var b = TestData.Uniform(new Random(n), n * n);
        var workspace = new SymmetricEigen.Workspace(n);
        var (values, transposed) = SymmetricEigen.DecomposeTransposed(a, n, threads: 3, workspace);
        values = (double[])values.Clone();
        var expected = new double[n * n];
        DoubleGemm.MultiplyTransposed(expected, b, transposed, n, threads: 1); // B (V^T)^T

        var product = new double[n * n];
        var applied = SymmetricEigen.DecomposeApplied(a, b, n, threads: 3, new SymmetricEigen.Workspace(n), product);
        Assert.That(applied, Is.EqualTo(values), "eigenvalues");
        double scale = expected.Max(Math.Abs);
        Assert.That(product.Zip(expected, (x, y) => Math.Abs(x - y)).Max(), Is.LessThan(1e-12 * n * scale), "B V");

        var oneCore = new double[n * n];
        SymmetricEigen.DecomposeApplied(a, b, n, threads: 1, new SymmetricEigen.Workspace(n), oneCore);
        Assert.That(oneCore, Is.EqualTo(product), "independent of the cores");
    }

    /// <summary>
    /// A workspace reused (the W2 loss's exact path, every evaluation): a decomposition in it is the fresh one to the
    /// bit, whatever it decomposed before (another matrix, with more rotations; a partial block of columns at 67).
    /// </summary>
    [TestCase(67)]
    [TestCase(300)]
    public void AReusedWorkspaceGivesTheFreshDecomposition(int n)
    {
        var workspace = new SymmetricEigen.Workspace(n);
        var a = RandomSymmetric(n, seed: n + 2);
        var b = WithSpectrum(Geometric(n, 1e9), seed: n + 3);
        foreach (var (matrix, name) in new[] { (a, "A"), (b, "B"), (a, "A again") })
        {
            var (fresh, freshVectors) = SymmetricEigen.Decompose(matrix, n, threads: 2);
            var (values, vectors) = SymmetricEigen.Decompose(matrix, n, threads: 2, workspace);
            Assert.That(values, Is.EqualTo(fresh), $"{name}: eigenvalues");
            Assert.That(vectors, Is.EqualTo(freshVectors), $"{name}: eigenvectors");
        }
        Assert.Throws<ArgumentException>(() => SymmetricEigen.Decompose(a, n - 1, 2, workspace));
    }

    /// <summary>
    /// What real layers give the fast decomposition: condition 1e12 with a cluster of equal small eigenvalues
    /// (dead channels at the eps floor), a matrix already diagonal (no reflection to make), and one of rank 1.
    /// </summary>
    [Test]
    public void FastEigendecompositionHandlesIllConditionedAndDegenerateMatrices()
    {
        const int n = 96;
        var spectrum = Geometric(n, 1e12);
        for (int k = n - 20; k < n; k++) spectrum[k] = 1e-12;
        var clustered = WithSpectrum(spectrum, seed: 4);
        var (values, vectors) = SymmetricEigen.Decompose(clustered, n, threads: 2);
        AssertDecomposes(clustered, n, values, vectors, 1e-12);
        var expected = spectrum.OrderBy(l => l).ToArray();
        for (int k = 0; k < n; k++)
            Assert.That(values[k], Is.EqualTo(expected[k]).Within(1e-14 + 1e-12 * expected[k]), $"l[{k}]");

        var diagonal = new double[n * n];
        for (int i = 0; i < n; i++) diagonal[i * n + i] = n - i;
        (values, vectors) = SymmetricEigen.Decompose(diagonal, n, threads: 2);
        AssertDecomposes(diagonal, n, values, vectors, 1e-15);

        var column = TestData.Uniform(new Random(5), n);
        var rankOne = new double[n * n];
        for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            rankOne[i * n + j] = column[i] * column[j];
        (values, vectors) = SymmetricEigen.Decompose(rankOne, n, threads: 2);
        AssertDecomposes(rankOne, n, values, vectors, 1e-12);
    }

    /// <summary>
    /// Clusters, as P matrices have them (many eigenvalues at the eps floor), at the largest layer's size: 200 equal
    /// eigenvalues at the bottom of a spectrum of condition 1e12, and 200 equal ones in its middle. In the divide
    /// and conquer they deflate; the vectors must still come out orthogonal and the values the spectrum's.
    /// </summary>
    [TestCase(0)]
    [TestCase(156)]
    public void FastEigendecompositionHandlesClustersOfEqualEigenvalues(int first)
    {
        const int n = 512;
        var spectrum = Geometric(n, 1e12);
        double cluster = spectrum[first];
        for (int k = first; k < first + 200; k++) spectrum[k] = first == 0 ? 1e-12 : cluster;
        var a = WithSpectrum(spectrum, seed: 6 + first);
        var (values, vectors) = SymmetricEigen.Decompose(a, n, threads: 2);
        AssertDecomposes(a, n, values, vectors, 1e-12);
        var expected = spectrum.OrderBy(l => l).ToArray();
        for (int k = 0; k < n; k++)
            Assert.That(values[k], Is.EqualTo(expected[k]).Within(1e-14 + 1e-12 * expected[k]), $"l[{k}]");
    }

    /// <summary>
    /// Matrices with nothing or little to reduce: zero (every eigenvalue 0, any orthonormal basis), diagonal and
    /// already tridiagonal (the reduction's reflections are the identity or close to it; the divide and conquer's
    /// couplings are 0 or the matrix's own), above the leaf size so that merges run.
    /// </summary>
    [TestCase(1)]
    [TestCase(3)]
    [TestCase(100)]
    [TestCase(300)]
    public void FastEigendecompositionOfZeroDiagonalAndTridiagonalMatrices(int n)
    {
        var zero = new double[n * n];
        var (values, vectors) = SymmetricEigen.Decompose(zero, n, threads: 2);
        Assert.That(values, Is.All.EqualTo(0));
        AssertDecomposes(zero, n, values, vectors, 1e-15);

        var random = new Random(n + 7);
        var diagonal = new double[n * n];
        for (int i = 0; i < n; i++) diagonal[i * n + i] = random.NextDouble() * 2 - 1;
        (values, vectors) = SymmetricEigen.Decompose(diagonal, n, threads: 2);
        AssertDecomposes(diagonal, n, values, vectors, 1e-15);
        var expected = Enumerable.Range(0, n).Select(i => diagonal[i * n + i]).OrderBy(l => l).ToArray();
        Assert.That(values, Is.EqualTo(expected).Within(1e-15));

        var tridiagonal = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            tridiagonal[i * n + i] = random.NextDouble() * 2 - 1;
            if (i > 0) tridiagonal[i * n + i - 1] = tridiagonal[(i - 1) * n + i] = random.NextDouble() * 2 - 1;
        }
        (values, vectors) = SymmetricEigen.Decompose(tridiagonal, n, threads: 2);
        AssertDecomposes(tridiagonal, n, values, vectors, 1e-12);
        var (reference, _) = SymmetricEigen.DecomposeReference(tridiagonal, n);
        for (int k = 0; k < n; k++) Assert.That(values[k], Is.EqualTo(reference[k]).Within(1e-13), $"l[{k}]");
    }

    /// <summary>
    /// The divide and conquer alone, on tridiagonal matrices chosen to be hard for it: Wilkinson's W+ (its
    /// eigenvalues come in pairs that agree to many digits: close poles, deflation by rotation), Wilkinson blocks
    /// glued by couplings of 1e-10 (clusters of nearly equal eigenvalues), a matrix that splits (zero couplings,
    /// one of them at the first tear), and the second difference (eigenvalues <c>2 - 2 cos(k pi / (n + 1))</c>,
    /// known in closed form). Checked: <c>T = Z diag(d) Z^T</c>, <c>Z^T Z = I</c>, the eigenvalues against the
    /// reference's (or the closed form) to a few roundings of |T|, and the same bits on one core as on three.
    /// </summary>
    [TestCase("wilkinson", 21)]
    [TestCase("wilkinson", 201)]
    [TestCase("glued", 210)]
    [TestCase("split", 130)]
    [TestCase("difference", 1)]
    [TestCase("difference", 2)]
    [TestCase("difference", 33)]
    [TestCase("difference", 512)]
    public void DivideAndConquerDiagonalisesTridiagonalMatrices(string kind, int n)
    {
        var d = new double[n];
        var off = new double[Math.Max(n - 1, 0)];
        var random = new Random(n);
        for (int i = 0; i < n; i++)
        {
            switch (kind)
            {
                case "wilkinson": d[i] = Math.Abs(i - (n - 1) / 2.0); break;
                case "glued": d[i] = Math.Abs(i % 21 - 10); break;
                case "split": d[i] = random.NextDouble(); break;
                default: d[i] = 2; break;
            }
            if (i + 1 < n)
            {
                off[i] = kind switch
                {
                    "wilkinson" => 1,
                    "glued" => i % 21 == 20 ? 1e-10 : 1,
                    "split" => i == n / 2 - 1 || i % 7 == 3 ? 0 : random.NextDouble() - 0.5,
                    _ => -1,
                };
            }
        }
        var dense = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            dense[i * n + i] = d[i];
            if (i + 1 < n) dense[i * n + i + 1] = dense[(i + 1) * n + i] = off[i];
        }
        var expected = kind == "difference"
            ? Enumerable.Range(1, n).Select(k => 2 - 2 * Math.Cos(k * Math.PI / (n + 1))).OrderBy(l => l).ToArray()
            : SymmetricEigen.DecomposeReference(dense, n).Values;

        (double[] Values, double[] Vectors) Solve(int threads)
        {
            var work = new SymmetricEigen.TridiagonalWork(n);
            var values = (double[])d.Clone();
            off.CopyTo(work.Off, 0);
            SymmetricEigen.DivideAndConquer(values, work, threads);
            return (values, work.Vectors);
        }
        var (values, vectors) = Solve(threads: 3);
        var order = Enumerable.Range(0, n).OrderBy(k => values[k]).ToArray();
        var sorted = new double[n];
        var columns = new double[n * n];
        for (int k = 0; k < n; k++)
        {
            sorted[k] = values[order[k]];
            for (int i = 0; i < n; i++) columns[i * n + k] = vectors[order[k] * n + i]; // eigenvector k: row k
        }
        AssertDecomposes(dense, n, sorted, columns, 1e-13);
        double norm = dense.Max(Math.Abs) + 2 * off.Select(Math.Abs).DefaultIfEmpty(0).Max(); // >= |T|_2
        for (int k = 0; k < n; k++)
            Assert.That(sorted[k], Is.EqualTo(expected[k]).Within(2e-14 * norm), $"l[{k}] against |T| = {norm}");
        var (oneCore, oneCoreVectors) = Solve(threads: 1);
        Assert.That(oneCore, Is.EqualTo(values), "eigenvalues independent of the cores");
        Assert.That(oneCoreVectors, Is.EqualTo(vectors), "eigenvectors independent of the cores");
    }

    /// <summary>The blocked double product against the plain one: awkward sizes (edge tiles and panels, several
    /// depth and column blocks), general and symmetric, the same on one core as on three.</summary>
    [TestCase(1)]
    [TestCase(7)]
    [TestCase(67)]
    [TestCase(300)]
    [TestCase(513)]
    public void DoubleGemmIsThePlainProduct(int n)
    {
        var random = new Random(n);
        var a = TestData.Uniform(random, n * n);
        var b = TestData.Uniform(random, n * n);
        var expected = Wasserstein.Multiply(a, b, n);
        var actual = DoubleGemm.Multiply(a, b, n, threads: 3);
        double tolerance = 1e-14 * n;
        Assert.That(actual.Zip(expected, (x, y) => Math.Abs(x - y)).Max(), Is.LessThan(tolerance));
        Assert.That(DoubleGemm.Multiply(a, b, n, threads: 1), Is.EqualTo(actual), "independent of the cores");

        // A symmetric product, U U^T: the upper blocks summed, the rest mirrored.
        var square = DoubleGemm.Multiply(a, SymmetricEigen.Transpose(a, n), n, threads: 3, symmetric: true);
        var reference = Wasserstein.Multiply(a, SymmetricEigen.Transpose(a, n), n);
        Assert.That(square.Zip(reference, (x, y) => Math.Abs(x - y)).Max(), Is.LessThan(tolerance));
        for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            Assert.That(square[i * n + j], Is.EqualTo(square[j * n + i]), $"symmetric at [{i}, {j}]");

        // B^T read from B's rows as it is packed: the product with B transposed first, to the bit.
        var transposed = new double[n * n];
        DoubleGemm.MultiplyTransposed(transposed, a, b, n, threads: 3);
        Assert.That(transposed, Is.EqualTo(DoubleGemm.Multiply(a, SymmetricEigen.Transpose(b, n), n, threads: 1)),
            "A B^T");
        DoubleGemm.MultiplyTransposed(transposed, a, a, n, threads: 1, symmetric: true);
        Assert.That(transposed, Is.EqualTo(square), "A A^T, symmetric");
    }

    /// <summary>The blocked product of rectangular blocks inside larger arrays (the divide and conquer's merges,
    /// the blocked reflections' C += A B) against the plain loops: awkward sizes, depth 0 (C becomes 0, or stays as
    /// it was), offsets and strides, C narrower than a column block (its rows then shared out); C's neighbours in its
    /// array are left as they were, and the result is the same on one core as on three.</summary>
    [TestCase(1, 1, 1, false)]
    [TestCase(5, 0, 3, false)]
    [TestCase(5, 0, 3, true)]
    [TestCase(7, 33, 65, false)]
    [TestCase(7, 33, 65, true)]
    [TestCase(130, 257, 67, false)]
    [TestCase(300, 150, 129, false)]
    [TestCase(161, 290, 32, false)]
    [TestCase(290, 32, 161, true)]
    public void RectangularDoubleGemmIsThePlainProduct(int rows, int depth, int columns, bool accumulate)
    {
        const int Stride = 320, Offset = 3 * Stride + 5;
        var random = new Random(rows + depth + columns);
        var a = TestData.Uniform(random, Offset + Math.Max(rows, depth) * Stride);
        var b = TestData.Uniform(random, Offset + Math.Max(depth, 1) * Stride);
        var c = TestData.Uniform(random, Offset + rows * Stride);
        var before = (double[])c.Clone();
        var oneCore = (double[])c.Clone();
        DoubleGemm.Multiply(c, Offset, Stride, a, Offset, Stride, b, Offset, Stride, rows, depth, columns, threads: 3,
            accumulate);
        DoubleGemm.Multiply(oneCore, Offset, Stride, a, Offset, Stride, b, Offset, Stride, rows, depth, columns, 1,
            accumulate);
        for (int i = 0; i < c.Length; i++)
        {
            int row = (i - Offset) / Stride, column = (i - Offset) % Stride;
            if (i < Offset || row >= rows || column >= columns)
            {
                Assert.That(c[i], Is.EqualTo(before[i]), $"outside C at {i}");
                continue;
            }
            double expected = accumulate ? before[i] : 0;
            for (int p = 0; p < depth; p++) expected += a[Offset + row * Stride + p] * b[Offset + p * Stride + column];
            Assert.That(c[i], Is.EqualTo(expected).Within(1e-14 * Math.Max(depth, 1)), $"C[{row}, {column}]");
        }
        Assert.That(oneCore, Is.EqualTo(c), "independent of the cores");
    }

    [Test]
    public void SquareRootSquaresBackOnAHandExample()
    {
        // [[5, 4], [4, 5]] has eigenvalues 9 and 1: its root is [[2, 1], [1, 2]].
        var root = SymmetricEigen.Sqrt([5, 4, 4, 5], 2);
        Assert.That(root, Is.EqualTo(new double[] { 2, 1, 1, 2 }).Within(1e-12));
    }

    private (float[] Sqrt, float[] Inverse, RootReport Report) DeviceRoots(double[] p, int n, int maxIterations)
    {
        using var matrix = TestData.Upload(Accelerator, p);
        using var sqrt = Accelerator.Allocate1D<float>((long)n * n);
        using var inverse = Accelerator.Allocate1D<float>((long)n * n);
        using var scratch = Accelerator.Allocate1D<float>(MatrixRoot.ScratchFloats(n));
        var report = Kernels.Root.Roots(sqrt.View, inverse.View, matrix.View, n, scratch.View,
            maxIterations: maxIterations);
        Accelerator.Synchronize();
        return (TestData.Download(sqrt), TestData.Download(inverse), report);
    }

    /// <summary>
    /// The roots within 1e-5 of the reference, and which path gave them: float32's coupled Newton-Schulz meets the
    /// stopping rule on well-conditioned matrices; from about condition 1e3 at n = 512 (1e5 at n = 128) rounding
    /// makes it stall or diverge, and the double eigendecomposition takes over.
    /// </summary>
    [TestCase(8, 10.0, false)]
    [TestCase(64, 1e3, false)]
    [TestCase(512, 1e3, true)]
    [TestCase(128, 1e5, true)]
    [TestCase(128, 1e6, true)]
    [TestCase(512, 1e6, true)]
    public void RootsAreTheReferenceRoots(int n, double condition, bool fallsBack)
    {
        var p = WithSpectrum(Geometric(n, condition), seed: n);
        var (sqrt, _, report) = DeviceRoots(p, n, MatrixRoot.MaxIterations);
        var (reference, _) = MatrixRoot.RootsReference(p, n);
        Assert.That(DeviceEvaluation.RelativeL2(sqrt, reference), Is.LessThan(1e-5), report.ToString());
        Assert.That(report.FellBack, Is.EqualTo(fallsBack), report.ToString());
    }

    [TestCase(64)]
    [TestCase(512)]
    public void AFlatColourStylesNearlySingularCovarianceHasItsRoot(int n)
    {
        // A flat-colour image's features are the same at every position: S = mu mu^T, Sigma = eps I exactly; with
        // a few positions that differ a little, Sigma is eps I plus a small low-rank part.
        const int m = 40;
        var random = new Random(3);
        var features = new double[n * m];
        for (int c = 0; c < n; c++)
        {
            double level = random.NextDouble() * 4;
            for (int q = 0; q < m; q++) features[c * m + q] = level + (q < 2 ? 1e-3 * random.NextDouble() : 0);
        }
        var (mean, moment) = Wasserstein.MomentsReference(features, new GramShape(n, m));
        var cov = Wasserstein.CovarianceReference(mean, moment);
        var (sqrt, _, report) = DeviceRoots(cov, n, MatrixRoot.MaxIterations);
        var (reference, _) = MatrixRoot.RootsReference(cov, n);
        Assert.That(DeviceEvaluation.RelativeL2(sqrt, reference), Is.LessThan(1e-5), report.ToString());
    }

    [Test]
    public void TheFallbackGivesBothReferenceRoots()
    {
        const int n = 48;
        var p = WithSpectrum(Geometric(n, 1e4), seed: 5);
        var (sqrt, inverse, report) = DeviceRoots(p, n, maxIterations: 0);
        Assert.That(report.FellBack, Is.True, "no step allowed: the eigendecomposition takes over");
        // The fallback reads the float32 matrix on the device: the reference takes the same one.
        var (root, inverseRoot) = MatrixRoot.RootsReference(Array.ConvertAll(Array.ConvertAll(p, v => (float)v),
            v => (double)v), n);
        Assert.That(DeviceEvaluation.RelativeL2(sqrt, root), Is.LessThan(1e-6));
        Assert.That(DeviceEvaluation.RelativeL2(inverse, inverseRoot), Is.LessThan(1e-6));
    }

    [Test]
    public void AMatrixTooIllConditionedForFloatFallsBack()
    {
        // Condition 1e12: float32's P/c has lost its small eigenvalues, the iteration cannot meet the rule.
        const int n = 32;
        var p = WithSpectrum(Geometric(n, 1e12), seed: 9);
        var (sqrt, _, report) = DeviceRoots(p, n, MatrixRoot.MaxIterations);
        Assert.That(report.FellBack, Is.True, report.ToString());
        var (root, _) = MatrixRoot.RootsReference(Array.ConvertAll(Array.ConvertAll(p, v => (float)v),
            v => (double)v), n);
        Assert.That(DeviceEvaluation.RelativeL2(sqrt, root), Is.LessThan(1e-6));
    }

    private static (double[] Features, double[] Mean, double[] Moment) LayerData(int n, int m, int seed,
        int deadStyleChannels = 0)
    {
        var random = new Random(seed);
        var features = TestData.Uniform(random, n * m, 0, 2);
        var style = TestData.Uniform(random, n * 2 * m, 0, 30);
        // Dead channels (a ReLU that never fires on the style): Sigma_s has eigenvalues of exactly eps beside ones
        // of hundreds, and P is too ill-conditioned for float32's iteration.
        Array.Clear(style, 0, deadStyleChannels * 2 * m);
        var (mean, moment) = Wasserstein.MomentsReference(style, new GramShape(n, 2 * m));
        return (features, mean, moment);
    }

    [TestCase(3, 7)]
    [TestCase(5, 12)]
    public void LayerLossGradientIsTheFiniteDifference(int n, int m)
    {
        var (features, mean, moment) = LayerData(n, m, seed: n);
        var shape = new GramShape(n, m);
        const double Weight = 1.7, Step = 1e-6;
        var (_, gradient) = Wasserstein.LayerReference(features, shape, mean, moment, Weight);
        for (int j = 0; j < features.Length; j++)
        {
            double saved = features[j];
            features[j] = saved + Step;
            double up = Wasserstein.LayerReference(features, shape, mean, moment, Weight).Loss;
            features[j] = saved - Step;
            double down = Wasserstein.LayerReference(features, shape, mean, moment, Weight).Loss;
            features[j] = saved;
            double numeric = (up - down) / (2 * Step);
            Assert.That(gradient[j], Is.EqualTo(numeric).Within(1e-6 + 1e-5 * Math.Abs(numeric)), $"[{j}]");
        }
    }

    [Test]
    public void LayerLossIsZeroAgainstItsOwnMoments()
    {
        var (features, _, _) = LayerData(6, 20, seed: 2);
        var shape = new GramShape(6, 20);
        var (mean, moment) = Wasserstein.MomentsReference(features, shape);
        var (loss, gradient) = Wasserstein.LayerReference(features, shape, mean, moment, 1);
        Assert.That(loss, Is.EqualTo(0).Within(1e-12));
        Assert.That(gradient.Max(Math.Abs), Is.LessThan(1e-9));
    }

    [TestCase(4, 6, 5, 0, false)]
    [TestCase(32, 12, 10, 0, false)]
    [TestCase(32, 12, 10, 8, true)]
    [TestCase(200, 12, 10, 30, true)]
    public void DeviceTapIsTheReference(int channels, int height, int width, int dead, bool fallsBack)
    {
        var shape = new ChwShape(channels, height, width);
        int m = height * width;
        var (features, mean, moment) = LayerData(channels, m, seed: channels, deadStyleChannels: dead);
        const float Weight = 3f;
        var (expectedLoss, expectedGradient) = Wasserstein.LayerReference(features, GramShape.Of(shape), mean,
            moment, Weight);

        using var memory = new DeviceMemory(Accelerator);
        var moments = memory.Upload(mean.Concat(moment).Select(v => (float)v).ToArray());
        var target = W2Target.FromMoments(Kernels, moments.View, memory.Floats(W2Target.Floats(channels)).View,
            channels);
        var loss = memory.Floats(1);
        var tap = new W2StyleLoss("relu1_1", shape, Kernels, memory, target, loss.View, Weight, normalizer: null);
        var activation = new DeviceTensor(memory.Upload(Array.ConvertAll(features, v => (float)v)).View, shape);
        var gradient = memory.Floats(shape.Length);
        // Twice: a layer that fell back once goes to the exact path at once the second time.
        foreach (string evaluation in new[] { "first", "second" })
        {
            Kernels.Vectors.Fill(loss.View, 0f);
            Kernels.Vectors.Fill(gradient.View, 0.5f); // it accumulates
            tap.Forward(activation);
            tap.Backward(gradient.View, activation);
            Accelerator.Synchronize();
            Assert.That(tap.LastRoot.FellBack, Is.EqualTo(fallsBack), $"{evaluation}: {tap.LastRoot}");
            Assert.That(TestData.Download(loss)[0], Is.EqualTo(expectedLoss).Within(1e-4 * Math.Abs(expectedLoss)),
                evaluation);
            var actual = TestData.Download(gradient);
            double scale = expectedGradient.Max(Math.Abs);
            for (int i = 0; i < actual.Length; i++)
            {
                Assert.That(actual[i] - 0.5, Is.EqualTo(expectedGradient[i]).Within(1e-3 * scale),
                    $"{evaluation}: [{i}]");
            }
        }
    }

    /// <summary>
    /// A tap on the exact path keeps its host arrays from one evaluation to the next: evaluated on one activation,
    /// then another, then the first again, each loss and gradient is a fresh tap's to the bit.
    /// </summary>
    [Test]
    public void AnExactTapReusingItsArraysIsAFreshOne()
    {
        const int Channels = 32, Height = 12, Width = 10;
        var shape = new ChwShape(Channels, Height, Width);
        var (features, mean, moment) = LayerData(Channels, Height * Width, seed: 7, deadStyleChannels: 8);
        var (other, _, _) = LayerData(Channels, Height * Width, seed: 8);
        using var memory = new DeviceMemory(Accelerator);
        var moments = memory.Upload(mean.Concat(moment).Select(v => (float)v).ToArray());
        var target = W2Target.FromMoments(Kernels, moments.View, memory.Floats(W2Target.Floats(Channels)).View,
            Channels);
        var loss = memory.Floats(1);
        var gradient = memory.Floats(shape.Length);
        (float, float[]) Evaluate(W2StyleLoss tap, double[] values)
        {
            var activation = new DeviceTensor(memory.Upload(Array.ConvertAll(values, v => (float)v)).View, shape);
            Kernels.Vectors.Fill(loss.View, 0f);
            Kernels.Vectors.Fill(gradient.View, 0f);
            tap.Forward(activation);
            tap.Backward(gradient.View, activation);
            Accelerator.Synchronize();
            Assert.That(tap.LastRoot.FellBack, Is.True, "the exact path");
            return (TestData.Download(loss)[0], TestData.Download(gradient));
        }
        W2StyleLoss Fresh() => new("relu1_1", shape, Kernels, memory, target, loss.View, 1f, normalizer: null);

        var reused = Fresh();
        foreach (var (values, name) in new[] { (features, "first"), (other, "second"), (features, "first again") })
        {
            var (expectedLoss, expectedGradient) = Evaluate(Fresh(), values);
            var (actualLoss, actualGradient) = Evaluate(reused, values);
            Assert.That(actualLoss, Is.EqualTo(expectedLoss), $"{name}: loss");
            Assert.That(actualGradient, Is.EqualTo(expectedGradient), $"{name}: gradient");
        }
    }

    [Test]
    public void W2DefaultsAreCrowsonkbsBalance()
    {
        var options = new StyleOptions { StyleLoss = StyleLossKind.W2 };
        Assert.That(options.ResolveLayerWeights(),
            Is.EqualTo(new[] { 256f / 341, 64f / 341, 16f / 341, 4f / 341, 1f / 341 }).Within(1e-7));
        foreach (var convention in new[] { "torchvision", "caffe" })
        {
            var weights = options.ResolveWeights(Preprocessing.FromName(convention));
            Assert.That((weights.Content, weights.Style), Is.EqualTo((0.015f, 1f)), convention);
            Assert.That(weights.TotalVariation, Is.EqualTo(2 * 0.0514 / (3.0 * 512 * 384)).Within(1e-9));
        }
        Assert.That(new StyleOptions { StyleLoss = StyleLossKind.W2, StyleLayerWeights = [1, 2] }
            .ResolveLayerWeights(), Is.EqualTo(new[] { 1f, 2f }), "given weights are kept");
        Assert.That(new StyleOptions().ResolveWeights(Preprocessing.FromName("caffe")), Is.EqualTo(LossWeights.Caffe),
            "Gram's defaults unchanged");
        // His Adam step, 0.02 on a [0, 1] image: 5.1 grey levels, and that divided by 58 for torchvision inputs
        Assert.That(Preprocessing.Caffe.AdamLearningRate(StyleLossKind.W2), Is.EqualTo(0.02 * 255).Within(1e-12));
        Assert.That(Preprocessing.Torchvision.AdamLearningRate(StyleLossKind.W2), Is.EqualTo(5.1 / 58).Within(1e-12));
        Assert.That((Preprocessing.Caffe.AdamLearningRate(StyleLossKind.Gram),
            Preprocessing.Torchvision.AdamLearningRate(StyleLossKind.Gram)), Is.EqualTo((10.0, 10.0 / 58)),
            "Gram's step unchanged");
    }
}
