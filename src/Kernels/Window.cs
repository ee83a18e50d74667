using ILGPU;
using ILGPU.Runtime;

namespace IlgpuStyle.Kernels;

// Glossary: a (C, H, W) tensor T and a window of it, rows Y..Y+h-1 and columns X..X+w-1 of every
// channel, stored compactly as a (C, h, w) tensor P:  P[(c*h + y)*w + x] = T[(c*H + Y + y)*W + X + x].

/// <summary>
/// A window of a <c>(C, H, W)</c> tensor: rows <c>Y .. Y+Height-1</c> and columns <c>X .. X+Width-1</c>
/// of every channel, held compactly elsewhere as a <c>(C, Height, Width)</c> tensor.
/// </summary>
/// <param name="Tensor">The shape of the whole tensor.</param>
/// <param name="Y">The window's first row.</param>
/// <param name="X">The window's first column.</param>
/// <param name="Height">Rows in the window.</param>
/// <param name="Width">Columns in the window.</param>
public readonly record struct WindowShape(ChwShape Tensor, int Y, int X, int Height, int Width)
{
    /// <summary>The shape of the compact copy, <c>(C, Height, Width)</c>.</summary>
    public ChwShape Window => new(Tensor.Channels, Height, Width);

    /// <summary>Elements of the compact copy.</summary>
    public int Length => Tensor.Channels * Height * Width;

    /// <summary>Whether the window holds no element (an empty rectangle).</summary>
    public bool IsEmpty => Height <= 0 || Width <= 0;

    /// <summary>The tensor's flat index of element i of the compact copy.</summary>
    public int TensorIndex(int i)
    {
        int x = i % Width;
        int y = i / Width % Height;
        int c = i / (Width * Height);
        return (c * Tensor.Height + Y + y) * Tensor.Width + X + x;
    }

    /// <summary>Throws unless the window is non-empty and lies inside the tensor.</summary>
    public void Validate()
    {
        Tensor.Validate("The tensor of a window");
        if (Height <= 0 || Width <= 0 || Y < 0 || X < 0 || Y + Height > Tensor.Height || X + Width > Tensor.Width)
        {
            throw new ArgumentException(
                $"The window {Width}x{Height} at ({X}, {Y}) is empty or does not lie inside {Tensor}.");
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Tensor}[{Y}+{Height}, {X}+{Width}]";
}

/// <summary>
/// Copies between a tensor and a compact copy of one window of it: <see cref="Crop"/> reads the
/// window out, <see cref="Add"/> adds a compact tensor into the window. A tiled evaluation uses them
/// to take a tile out of the image, the positions a tile owns out of its activations, and to add
/// gradients back in (<c>IlgpuStyle.Network.Tiling</c>).
/// </summary>
/// <remarks>Reading order: the CPU references, kernel 1 (one thread per element of the window), kernel 2
/// (host code, Window.Cpu.cs), the launchers.</remarks>
public sealed partial class Window
{
    private readonly KernelChoice _choice; // what Auto runs
    private readonly CpuHost _host;        // kernel 2's cores
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, WindowShape>> _crop;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, WindowShape>> _add;

    /// <summary>The kernels for <paramref name="accelerator"/>, each compiled at its first launch.</summary>
    /// <param name="accelerator">Where the kernels run.</param>
    /// <param name="choice">The rule <see cref="KernelVariant.Auto"/> follows.</param>
    /// <param name="host">The host-code variant's cores.</param>
    public Window(Accelerator accelerator, KernelChoice choice, CpuHost host)
    {
        _choice = choice;
        _host = host;
        _crop = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, WindowShape>(CropKernel));
        _add = new(() => accelerator.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<float>, ArrayView<float>, WindowShape>(AddKernel));
    }

    // ---------------------------------------------------------------- CPU references

    /// <summary>CPU reference of <see cref="Crop"/>, loops over (c, y, x) written out.</summary>
    public static void CropReference(double[] window, double[] tensor, WindowShape s)
    {
        var w = s.Window;
        for (int c = 0; c < w.Channels; c++)
        for (int y = 0; y < w.Height; y++)
        for (int x = 0; x < w.Width; x++)
            window[w.Index(c, y, x)] = tensor[s.Tensor.Index(c, s.Y + y, s.X + x)];
    }

    /// <summary>CPU reference of <see cref="Add"/>.</summary>
    public static void AddReference(double[] tensor, double[] window, WindowShape s)
    {
        var w = s.Window;
        for (int c = 0; c < w.Channels; c++)
        for (int y = 0; y < w.Height; y++)
        for (int x = 0; x < w.Width; x++)
            tensor[s.Tensor.Index(c, s.Y + y, s.X + x)] += window[w.Index(c, y, x)];
    }

    // ---------------------------------------------------------------- kernel 1: one thread per element

    /// <summary>One thread per element of the window: window[i] = tensor[its index].</summary>
    public static void CropKernel(Index1D i, ArrayView<float> window, ArrayView<float> tensor, WindowShape s) =>
        window[i] = tensor[s.TensorIndex(i)];

    /// <summary>One thread per element of the window (each tensor element has one writer).</summary>
    public static void AddKernel(Index1D i, ArrayView<float> tensor, ArrayView<float> window, WindowShape s)
    {
        int t = s.TensorIndex(i);
        tensor[t] += window[i];
    }

    // ---------------------------------------------------------------- kernel 2: host code (Window.Cpu.cs)

    // ---------------------------------------------------------------- launchers

    /// <summary>Writes the window of <paramref name="tensor"/> into <paramref name="window"/> (compact).</summary>
    public void Crop(ArrayView<float> window, ArrayView<float> tensor, WindowShape shape,
        KernelVariant variant = KernelVariant.Auto)
    {
        Check(window, tensor, shape);
        switch (KernelChoice.Resolve(variant, _choice.Window()))
        {
            case KernelVariant.PerElement: _crop.Value(shape.Length, window, tensor, shape); break;
            case KernelVariant.Cpu: CropCpu(window, tensor, shape); break;
            default: throw KernelChoice.NotOffered("window copy", variant);
        }
    }

    /// <summary>Adds <paramref name="window"/> (compact) into the window of <paramref name="tensor"/>.</summary>
    public void Add(ArrayView<float> tensor, ArrayView<float> window, WindowShape shape,
        KernelVariant variant = KernelVariant.Auto)
    {
        Check(window, tensor, shape);
        switch (KernelChoice.Resolve(variant, _choice.Window()))
        {
            case KernelVariant.PerElement: _add.Value(shape.Length, tensor, window, shape); break;
            case KernelVariant.Cpu: AddCpu(tensor, window, shape); break;
            default: throw KernelChoice.NotOffered("window copy", variant);
        }
    }

    private static void Check(ArrayView<float> window, ArrayView<float> tensor, WindowShape shape)
    {
        shape.Validate();
        Require.Length(window, shape.Length, nameof(window));
        Require.Length(tensor, shape.Tensor.Length, nameof(tensor));
    }
}
