using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// The whole style-transfer loss and its gradient in double precision on the CPU, built only from
/// the kernels' CPU references and SPEC.md's definitions. The device objective is tested against
/// it, and it is tested against finite differences.
/// </summary>
internal sealed class ReferenceObjective
{
    private readonly VggWeights _weights;
    private readonly Pooling _pooling;
    private readonly LossWeights _lossWeights;
    private readonly IReadOnlyList<string> _contentLayers;
    private readonly IReadOnlyList<string> _styleLayers;
    private readonly IReadOnlyList<double> _styleLayerWeights;
    private readonly Dictionary<string, double[]> _contentTargets = [];
    private readonly Dictionary<string, double[]> _styleTargets = [];

    public ReferenceObjective(VggWeights weights, NetworkImage content, IReadOnlyList<NetworkImage> styles,
        StyleOptions options, IReadOnlyList<double>? blend = null)
    {
        _weights = weights;
        _pooling = options.Pooling;
        Shape = content.Shape;
        _lossWeights = options.ResolveWeights(Preprocessing.FromName(weights.Preprocess));
        _contentLayers = options.ContentLayers;
        _styleLayers = options.StyleLayers;
        _styleLayerWeights = options.StyleLayerWeights?.Select(w => (double)w).ToList()
            ?? options.StyleLayers.Select(_ => 1.0).ToList();

        var contentRun = Forward(ToDouble(content.Data), content.Shape);
        foreach (string layer in _contentLayers)
            _contentTargets[layer] = contentRun.Single(s => s.Name == layer).Output;

        var b = blend ?? styles.Select(_ => 1.0 / styles.Count).ToList();
        foreach (string layer in _styleLayers) _styleTargets[layer] = null!;
        for (int k = 0; k < styles.Count; k++)
        {
            var run = Forward(ToDouble(styles[k].Data), styles[k].Shape);
            foreach (string layer in _styleLayers)
            {
                var step = run.Single(s => s.Name == layer);
                var gram = GramOf(step.Output, step.OutShape);
                _styleTargets[layer] ??= new double[gram.Length];
                for (int i = 0; i < gram.Length; i++) _styleTargets[layer][i] += b[k] * gram[i];
            }
        }
    }

    public ChwShape Shape { get; }

    public static double[] ToDouble(float[] data) => Array.ConvertAll(data, v => (double)v);

    /// <summary>One layer of the forward pass and what its backward needs.</summary>
    internal sealed class Step
    {
        public required string Name { get; init; }
        public required ChwShape InShape { get; init; }
        public required ChwShape OutShape { get; init; }
        public required double[] Output { get; init; }
        public ConvLayerWeights? Conv { get; init; }
        public byte[]? Argmax { get; init; }
    }

    /// <summary>Every ReLU and pooling output up to the deepest layer any loss uses.</summary>
    public List<Step> Forward(double[] x, ChwShape shape)
    {
        string deepest = _weights.Architecture.Deepest(_contentLayers.Concat(_styleLayers));
        var steps = new List<Step>();
        int block = 1;
        foreach (var conv in _weights.Layers)
        {
            int convBlock = _weights.Architecture.Block(conv.Name);
            if (convBlock != block)
            {
                var outShape = MaxPool2d.OutputShape(shape);
                var pooled = new double[outShape.Length];
                byte[]? argmax = null;
                if (_pooling == Pooling.Max)
                {
                    argmax = new byte[outShape.Length];
                    MaxPool2d.ForwardReference(pooled, argmax, x, shape);
                }
                else
                {
                    AvgPool2d.ForwardReference(pooled, x, shape);
                }
                steps.Add(new Step { Name = VggArchitecture.PoolName(block), InShape = shape, OutShape = outShape,
                    Output = pooled, Argmax = argmax });
                x = pooled;
                shape = outShape;
                block = convBlock;
            }
            var s = Conv2dShape.Vgg(shape.Channels, shape.Height, shape.Width, conv.OutChannels);
            var output = new double[s.Output.Length];
            Conv2d.ForwardReference(output, x, ToDouble(conv.Weight), ToDouble(conv.Bias), s, fuseRelu: true);
            string relu = _weights.Architecture.ReluName(conv.Name);
            steps.Add(new Step { Name = relu, InShape = shape, OutShape = s.Output, Output = output, Conv = conv });
            x = output;
            shape = s.Output;
            if (relu == deepest) break;
        }
        return steps;
    }

    public static double[] GramOf(double[] features, ChwShape shape)
    {
        var g = GramShape.Of(shape);
        var gram = new double[g.GramLength];
        Gram.ForwardReference(gram, features, g, 1.0 / shape.Length);
        return gram;
    }

    /// <summary>L(x) and its terms; fills <paramref name="gradient"/> with dL/dx when given.</summary>
    public (double Total, double Content, double Style, double Tv) Evaluate(double[] x, double[]? gradient)
    {
        var steps = Forward(x, Shape);
        double content = 0, style = 0;
        foreach (string layer in _contentLayers)
            content += MseLoss.ForwardReference(steps.Single(s => s.Name == layer).Output,
                _contentTargets[layer], _lossWeights.Content);
        for (int i = 0; i < _styleLayers.Count; i++)
        {
            var step = steps.Single(s => s.Name == _styleLayers[i]);
            style += MseLoss.ForwardReference(GramOf(step.Output, step.OutShape), _styleTargets[_styleLayers[i]],
                _lossWeights.Style * _styleLayerWeights[i]);
        }
        double tv = TotalVariation.ForwardReference(x, Shape, _lossWeights.TotalVariation);

        if (gradient is not null)
        {
            // Backward: from the deepest step to the input, adding each tap's gradient at its ReLU.
            var dOut = new double[steps[^1].Output.Length];
            for (int k = steps.Count - 1; k >= 0; k--)
            {
                var step = steps[k];
                if (_contentTargets.TryGetValue(step.Name, out var target))
                    MseLoss.BackwardReference(dOut, step.Output, target, _lossWeights.Content, accumulate: true);
                int styleIndex = _styleLayers.ToList().IndexOf(step.Name);
                if (styleIndex >= 0)
                {
                    var g = GramShape.Of(step.OutShape);
                    var dGram = new double[g.GramLength];
                    MseLoss.BackwardReference(dGram, GramOf(step.Output, step.OutShape), _styleTargets[step.Name],
                        _lossWeights.Style * _styleLayerWeights[styleIndex], accumulate: false);
                    Gram.BackwardReference(dOut, dGram, step.Output, g, 1.0 / step.OutShape.Length, accumulate: true);
                }

                var dIn = k == 0 ? gradient : new double[step.InShape.Length];
                if (step.Conv is { } conv)
                {
                    Relu.BackwardReference(dOut, dOut, step.Output);
                    Conv2d.BackwardInputReference(dIn, dOut, ToDouble(conv.Weight),
                        Conv2dShape.Vgg(step.InShape.Channels, step.InShape.Height, step.InShape.Width,
                            conv.OutChannels));
                }
                else if (step.Argmax is not null)
                {
                    MaxPool2d.BackwardReference(dIn, dOut, step.Argmax, step.InShape);
                }
                else
                {
                    AvgPool2d.BackwardReference(dIn, dOut, step.InShape);
                }
                dOut = dIn;
            }
            TotalVariation.BackwardReference(gradient, x, Shape, _lossWeights.TotalVariation, accumulate: true);
        }
        return (content + style + tv, content, style, tv);
    }
}
