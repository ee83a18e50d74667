namespace IlgpuStyle.Host;

/// <summary>Which optimizer a run uses.</summary>
internal enum OptimizerKind
{
    Lbfgs,
    Adam,
}

/// <summary>How the image being optimized starts.</summary>
internal enum InitKind
{
    Content,
    Random,
    Image,
}

/// <summary>Everything <c>ilgpu-style --content ... --style ...</c> was asked to do, as parsed.</summary>
internal sealed record RunOptions
{
    public required string Content { get; init; }
    public required IReadOnlyList<string> Styles { get; init; }
    public IReadOnlyList<float>? StyleBlendWeights { get; init; }
    public string Output { get; init; } = "out.png";
    public int Size { get; init; } = 512;
    public double StyleScale { get; init; } = 1.0;
    public int Iterations { get; init; } = 1000;
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.Lbfgs;
    public double? LearningRate { get; init; }
    public int LbfgsHistory { get; init; } = 100;
    public bool LbfgsLineSearch { get; init; } = true;
    public float? ContentWeight { get; init; }
    public float? StyleWeight { get; init; }
    public float? TvWeight { get; init; }
    public IReadOnlyList<string> ContentLayers { get; init; } = ["relu4_2"];
    public IReadOnlyList<string> StyleLayers { get; init; } = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"];
    public IReadOnlyList<float>? StyleLayerWeights { get; init; }
    public Network.Pooling Pooling { get; init; } = Network.Pooling.Max;
    public bool NormalizeGradients { get; init; }
    public InitKind Init { get; init; } = InitKind.Content;
    public string? InitImage { get; init; }
    public int Seed { get; init; }
    public bool OriginalColors { get; init; }
    public bool Tf32 { get; init; }
    public int PrintEvery { get; init; } = 50;
    public int SaveEvery { get; init; }
    public string? Report { get; init; }
    public string Device { get; init; } = "auto";
    public string Weights { get; init; } = DefaultWeights;

    /// <summary>Where the weights live unless <c>--weights</c> says otherwise; fetched on first use.</summary>
    public const string DefaultWeights = "weights/vgg19.safetensors";
}
