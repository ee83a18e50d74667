using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Network.Losses;

/// <summary>
/// jcjohnson/neural-style's <c>-normalize_gradients</c>: a loss tap's gradient is divided by its
/// own L1 norm before being scaled by the tap's weight, so every layer pushes with the same
/// strength whatever its scale. The loss value is unchanged, so with this option the gradient is
/// no longer the loss's exact gradient: use it with Adam or fixed-step L-BFGS.
/// </summary>
public sealed class GradientNormalizer
{
    private const float Epsilon = 1e-8f;

    private readonly KernelSet _kernels;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _scratch;
    private readonly ArrayView<float> _norm;      // (1) |g|_1, then 1 / (|g|_1 + eps)
    private readonly ArrayView<float> _epsilon;   // (1) constant eps
    private readonly ArrayView<float> _one;       // (1) constant 1

    /// <summary>Allocates a scratch gradient of <paramref name="capacity"/> floats and three scalars.</summary>
    public GradientNormalizer(KernelSet kernels, DeviceMemory memory, int capacity)
    {
        _kernels = kernels;
        _scratch = memory.Floats(capacity);
        var scalars = memory.Upload([0f, Epsilon, 1f]).View;
        _norm = scalars.SubView(0, 1);
        _epsilon = scalars.SubView(1, 1);
        _one = scalars.SubView(2, 1);
    }

    /// <summary>A scratch view of n floats for a tap to write its raw (weight 1) gradient into.</summary>
    public ArrayView<float> Scratch(long n) => _scratch.View.SubView(0, n);

    /// <summary>
    /// <c>destination += weight * g / (|g|_1 + 1e-8)</c>, g being the scratch view from <see cref="Scratch"/>.
    /// </summary>
    public void AddNormalized(ArrayView<float> destination, ArrayView<float> gradient, float weight)
    {
        var vectors = _kernels.Vectors;
        vectors.L1Norm(_norm, gradient);
        vectors.Scalar(_norm, _norm, ScalarOp.Add, _epsilon);
        vectors.Scalar(_norm, _one, ScalarOp.Divide, _norm);
        vectors.AxpyByScalar(destination, _norm, weight, gradient);
    }
}
