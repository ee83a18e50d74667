using ILGPU;

namespace IlgpuStyle.Network;

/// <summary>
/// A loss attached to a named ReLU output: an identity layer (neural-style's loss modules) that,
/// on the way forward, adds its loss to a device scalar, and on the way back adds its gradient to
/// the gradient flowing down through that activation.
/// </summary>
public interface ILossTap
{
    /// <summary>The ReLU output it reads, e.g. <c>relu4_2</c>.</summary>
    string Layer { get; }

    /// <summary>Adds this term's loss, computed from <paramref name="activation"/>, to its device scalar.</summary>
    void Forward(DeviceTensor activation);

    /// <summary>
    /// <see cref="Forward(DeviceTensor)"/>, calling <paramref name="markPiece"/> (when given: the bench's profiler)
    /// with the name of each piece of its own that should be timed apart, such as <c>root: eigendecomposition</c>,
    /// and <c>forward</c> when it goes back to the rest. A tap with no such pieces ignores it.
    /// </summary>
    void Forward(DeviceTensor activation, Action<string>? markPiece) => Forward(activation);

    /// <summary>Adds this term's gradient with respect to the activation to <paramref name="dActivation"/>.</summary>
    void Backward(ArrayView<float> dActivation, DeviceTensor activation);
}
