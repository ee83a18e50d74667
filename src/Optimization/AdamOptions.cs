namespace IlgpuStyle.Optimization;

/// <summary>Settings of <see cref="AdamOptimizer"/> (Kingma &amp; Ba 2015; defaults from the paper).</summary>
public sealed record AdamOptions
{
    /// <summary>
    /// Step size alpha: roughly how far one iteration moves each variable. The paper's 1e-3 suits
    /// variables of order 1; a caller optimizing pixels picks a value on the pixels' scale
    /// (neural-style uses 10 for 0-255 pixels).
    /// </summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Decay of the running mean of the gradient.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>Decay of the running mean of the squared gradient.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Added to the root of the second-moment estimate before dividing.</summary>
    public double Epsilon { get; init; } = 1e-8;

    /// <summary>Iterations before stopping with <see cref="StopReason.MaxIterations"/>.</summary>
    public int MaxIterations { get; init; } = IOptimizer.DefaultMaxIterations;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for settings no run can use.</summary>
    public void Validate()
    {
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "must be positive and finite.");
        if (!(Beta1 >= 0 && Beta1 < 1))
            throw new ArgumentOutOfRangeException(nameof(Beta1), Beta1, "must be in [0, 1).");
        if (!(Beta2 >= 0 && Beta2 < 1))
            throw new ArgumentOutOfRangeException(nameof(Beta2), Beta2, "must be in [0, 1).");
        if (!(Epsilon > 0))
            throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "must be positive.");
        if (MaxIterations < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxIterations), MaxIterations, "must not be negative.");
    }
}
