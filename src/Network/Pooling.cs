namespace IlgpuStyle.Network;

/// <summary>Pooling between VGG blocks.</summary>
public enum Pooling
{
    /// <summary>2x2 max pooling, as VGG was trained.</summary>
    Max,

    /// <summary>2x2 average pooling (Gatys et al. found it gives slightly smoother results).</summary>
    Avg,
}
