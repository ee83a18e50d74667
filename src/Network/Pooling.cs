namespace IlgpuStyle.Network;

/// <summary>Pooling between VGG blocks.</summary>
public enum Pooling
{
    /// <summary>2x2 max pooling, as VGG was trained.</summary>
    Max,

    /// <summary>2x2 average pooling (Gatys et al. found it gives slightly smoother results).</summary>
    Avg,

    /// <summary>2x2 L2 pooling, each window's root mean square (crowsonkb's "l2"; <see cref="Kernels.L2Pool2d"/>
    /// says how it is defined): between max and average. Its backward reads the pooling's input, so the ReLU output
    /// below each pooling is kept (<see cref="NetworkPlan"/>).</summary>
    L2,
}
