namespace IlgpuStyle.Kernels;

/// <summary>
/// The shape of one activation tensor, batch 1: <c>C</c> channels of <c>H x W</c> pixels, stored
/// row-major with W fastest (SPEC.md, "Tensors and layout"): <c>t[(c*H + y)*W + x]</c>.
/// This is the one place that index arithmetic is written; kernels call <see cref="Index"/>.
/// </summary>
public readonly record struct ChwShape(int Channels, int Height, int Width)
{
    /// <summary>Number of elements, <c>C*H*W</c>.</summary>
    public int Length => Channels * Height * Width;

    /// <summary>Elements in one channel plane, <c>H*W</c>.</summary>
    public int PlaneLength => Height * Width;

    /// <summary>Flat index of element (c, y, x).</summary>
    public int Index(int c, int y, int x) => (c * Height + y) * Width + x;

    /// <summary>Throws unless every dimension is positive (a zero-sized tensor is always a bug here).</summary>
    public void Validate(string name)
    {
        if (Channels <= 0 || Height <= 0 || Width <= 0)
            throw new ArgumentException($"{name} must have positive dimensions, got {this}.");
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Channels}x{Height}x{Width}";
}

/// <summary>Checks that launchers run before every launch: a wrong length inside a CPU-accelerator
/// kernel would kill the process, so it has to be caught on the host.</summary>
public static class Require
{
    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless the view holds exactly <paramref name="expected"/> elements.
    /// </summary>
    public static void Length<T>(ILGPU.ArrayView<T> view, long expected, string name)
        where T : unmanaged
    {
        if (view.Length != expected)
            throw new ArgumentException($"{name} has {view.Length} elements but its shape needs {expected}.", name);
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless the array holds exactly <paramref name="expected"/> elements.
    /// </summary>
    public static void Length<T>(T[] array, long expected, string name)
    {
        if (array.Length != expected)
            throw new ArgumentException($"{name} has {array.Length} elements but its shape needs {expected}.", name);
    }
}
