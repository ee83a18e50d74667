using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>
/// The whole algorithm of Gatys, Ecker and Bethge in one file, in plain double-precision C# on the
/// CPU: preprocessing, the VGG forward pass, the content, style and total-variation losses, and the
/// backward pass to the image. Read it top to bottom before anything else; every equation is
/// SPEC.md's ("Preprocessing" and "Loss").
/// </summary>
/// <remarks>
/// <para>It is the reference the device code is tested against (<see cref="StyleObjective"/> on
/// every accelerator), and it is itself tested against finite differences. So it never calls the
/// device code: each layer is the CPU reference that sits beside its kernels (for example
/// <see cref="Conv2d.ForwardReference"/>, plain nested loops), and this file only composes them,
/// as neural-style's single Lua file composes torch's layers.</para>
/// <para>What it leaves out: image files and resizing (<see cref="Preprocess"/> states the
/// preprocessing; the constructor takes images already preprocessed, as <see cref="NetworkImage"/>),
/// gradient normalisation (an option that changes the gradient away
/// from the loss's exact one), and the optimizer (L-BFGS or Adam only ever ask for
/// <see cref="Evaluate"/>'s loss and gradient).</para>
/// <para>Regions (Gatys et al. 2017, sec. 4) are section 6: with masks the style loss is a sum of guided Gram
/// losses, one per region and layer; the guides themselves come from <see cref="RegionGuides"/>.</para>
/// <para>Glossary: x the image being optimized (preprocessed, 3 x H x W); <c>F_l(x)</c> the
/// activation after the ReLU named <c>relu{b}_{i}</c>, viewed as a C x (H*W) matrix, with
/// <c>N_l = C*H*W</c> elements; <c>G_l = F_l F_l^T / N_l</c> its Gram matrix.</para>
/// </remarks>
public sealed class ReferenceObjective
{
    private readonly VggWeights _weights;
    private readonly Pooling _pooling;
    private readonly LossWeights _lossWeights;               // w_c, w_s, w_tv
    private readonly IReadOnlyList<string> _contentLayers;
    private readonly IReadOnlyList<string> _styleLayers;
    private readonly IReadOnlyList<double> _styleLayerWeights; // one factor of w_s per style layer
    private readonly Dictionary<string, double[]> _contentTargets = []; // F_l(content), (C, H, W)
    private readonly Dictionary<string, double[]> _styleTargets = [];   // A_l, (C, C)
    private readonly List<RegionTerms>? _regions;                       // with regions: per region, in order
    private (double[] Target, double[] Weights, double Weight)? _temporal; // video: section 7

    // ---------------------------------------------------------------- 1. preprocessing

    private static readonly double[] TorchvisionMean = [0.485, 0.456, 0.406]; // RGB
    private static readonly double[] TorchvisionStd = [0.229, 0.224, 0.225];  // RGB
    private static readonly double[] CaffeMean = [103.939, 116.779, 123.68];  // BGR, 0-255 scale

    /// <summary>
    /// The network input of an image (SPEC.md, "Preprocessing"), shape (3, H, W). torchvision:
    /// <c>x[c] = (rgb[c]/255 - mean[c]) / std[c]</c>, mean 0.485 0.456 0.406, std 0.229 0.224 0.225.
    /// caffe: channels in BGR order, <c>x[c] = bgr[c] - mean[c]</c> on the 0-255 scale, mean
    /// 103.939 116.779 123.68.
    /// </summary>
    public static double[] Preprocess(RgbImage image, PreprocessConvention convention)
    {
        var shape = new ChwShape(3, image.Height, image.Width);
        var x = new double[shape.Length];
        for (int c = 0; c < 3; c++)
        for (int y = 0; y < image.Height; y++)
        for (int col = 0; col < image.Width; col++)
        {
            int pixel = (y * image.Width + col) * 3; // pixels: (H, W, 3) RGB bytes
            x[shape.Index(c, y, col)] = convention == PreprocessConvention.Caffe
                ? image.Pixels[pixel + 2 - c] - CaffeMean[c]
                : (image.Pixels[pixel + c] / 255.0 - TorchvisionMean[c]) / TorchvisionStd[c];
        }
        return x;
    }

    // ---------------------------------------------------------------- 2. the targets

    /// <summary>
    /// Computes the targets the losses compare against, once: <c>F_l(content)</c> at each content
    /// layer and the style targets <c>A_l = sum_k b_k G_l(style_k)</c> at each style layer, with the
    /// blend weights <c>b_k</c> of <paramref name="options"/> normalized to sum 1 (equal by default).
    /// With <paramref name="regions"/>, region r's targets are instead the guided Grams of style image r
    /// (<see cref="RegionTerms"/>).
    /// </summary>
    public ReferenceObjective(VggWeights weights, NetworkImage content, IReadOnlyList<NetworkImage> styles,
        StyleOptions options, StyleRegions? regions = null)
    {
        if (options.StyleLoss != StyleLossKind.Gram)
            throw new ArgumentException("The reference objective is the Gram loss's (W2's is Wasserstein.cs').");
        _weights = weights;
        _pooling = options.Pooling;
        Shape = content.Shape;
        _lossWeights = options.ResolveWeights(Preprocessing.FromName(weights.Preprocess));
        _contentLayers = options.ContentLayers;
        _styleLayers = options.StyleLayers;
        _styleLayerWeights = options.StyleLayerWeights?.Select(w => (double)w).ToList()
                             ?? options.StyleLayers.Select(_ => 1.0).ToList();

        var contentRun = Forward(ToDouble(content.Data), content.Shape);
        foreach (string layer in _contentLayers) _contentTargets[layer] = Find(contentRun, layer).Output;

        if (regions is not null)
        {
            _regions = Enumerable.Range(0, regions.Count)
                .Select(r => new RegionTerms(this, regions.Content[r], styles[r], regions.Styles[r], regions.Mode))
                .ToList();
            return;
        }
        var raw = options.StyleBlendWeights?.Select(w => (double)w).ToList() ?? styles.Select(_ => 1.0).ToList();
        var blend = raw.Select(w => w / raw.Sum()).ToList();
        foreach (string layer in _styleLayers)
        {
            int channels = Find(contentRun, layer).OutShape.Channels;
            _styleTargets[layer] = new double[channels * channels];
        }
        for (int k = 0; k < styles.Count; k++)
        {
            var run = Forward(ToDouble(styles[k].Data), styles[k].Shape);
            foreach (string layer in _styleLayers)
            {
                var step = Find(run, layer);
                var gram = GramOf(step.Output, step.OutShape);
                for (int i = 0; i < gram.Length; i++) _styleTargets[layer][i] += blend[k] * gram[i];
            }
        }
    }

    /// <summary>The shape of the image being optimized, (3, H, W): the content image's.</summary>
    public ChwShape Shape { get; }

    /// <summary>With regions, each region's style loss at the last <see cref="Evaluate"/>; else empty.</summary>
    public IReadOnlyList<double> LastRegionStyle { get; private set; } = [];

    /// <summary>A float tensor widened to double.</summary>
    public static double[] ToDouble(float[] data) => Array.ConvertAll(data, v => (double)v);

    // ---------------------------------------------------------------- 3. the VGG forward pass

    /// <summary>One layer of the forward pass and what its backward pass needs.</summary>
    public sealed class Step
    {
        /// <summary><c>relu{b}_{i}</c> (a convolution and its ReLU) or <c>pool{b}</c>.</summary>
        public required string Name { get; init; }

        /// <summary>The layer's input shape.</summary>
        public required ChwShape InShape { get; init; }

        /// <summary>The layer's output shape.</summary>
        public required ChwShape OutShape { get; init; }

        /// <summary>The layer's output, (C, H, W) row-major: for a convolution, after its ReLU.</summary>
        public required double[] Output { get; init; }

        /// <summary>The convolution's weights; null for a pooling layer.</summary>
        public ConvLayerWeights? Conv { get; init; }

        /// <summary>Max pooling's saved choice per output (the window offset of the maximum); null otherwise.</summary>
        public byte[]? Argmax { get; init; }

        /// <summary>L2 pooling's saved input (its backward reads each window); null otherwise.</summary>
        public double[]? PoolInput { get; init; }
    }

    /// <summary>
    /// VGG's convolutional part on <paramref name="x"/>: each <c>conv{b}_{i}</c> (3x3, padding 1,
    /// stride 1) followed by its ReLU, and a 2x2 pooling of stride 2 (max, average or L2) between
    /// blocks. The network is cut after the deepest layer any loss reads, as neural-style does:
    /// nothing after it changes the loss.
    /// </summary>
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
                // The pooling that closes the previous block (floor on odd sizes).
                var pooledShape = MaxPool2d.OutputShape(shape);
                var pooled = new double[pooledShape.Length];
                byte[]? argmax = null;
                switch (_pooling)
                {
                    case Pooling.Max:
                        argmax = new byte[pooledShape.Length];
                        MaxPool2d.ForwardReference(pooled, argmax, x, shape);
                        break;
                    case Pooling.Avg: AvgPool2d.ForwardReference(pooled, x, shape); break;
                    case Pooling.L2: L2Pool2d.ForwardReference(pooled, x, shape); break;
                    default: throw new InvalidOperationException($"Not a pooling: {_pooling}.");
                }
                steps.Add(new Step
                {
                    Name = VggArchitecture.PoolName(block), InShape = shape, OutShape = pooledShape, Output = pooled,
                    Argmax = argmax, PoolInput = _pooling == Pooling.L2 ? x : null,
                });
                (x, shape, block) = (pooled, pooledShape, convBlock);
            }

            // out[k] = bias[k] + sum_c w[k, c] * x[c] (a 3x3 cross-correlation), then ReLU: max(out, 0).
            var s = Conv2dShape.Vgg(shape.Channels, shape.Height, shape.Width, conv.OutChannels);
            var output = new double[s.Output.Length];
            Conv2d.ForwardReference(output, x, ToDouble(conv.Weight), ToDouble(conv.Bias), s, fuseRelu: false);
            Relu.ForwardReference(output, output);
            string relu = _weights.Architecture.ReluName(conv.Name);
            steps.Add(new Step { Name = relu, InShape = shape, OutShape = s.Output, Output = output, Conv = conv });
            (x, shape) = (output, s.Output);
            if (relu == deepest) break;
        }
        return steps;
    }

    /// <summary><c>G = F F^T / N</c> of a (C, H, W) activation viewed as C x (H*W); N = C*H*W.</summary>
    public static double[] GramOf(double[] features, ChwShape shape)
    {
        var g = GramShape.Of(shape);
        var gram = new double[g.GramLength];
        Gram.ForwardReference(gram, features, g, 1.0 / shape.Length);
        return gram;
    }

    // ---------------------------------------------------------------- 4. the losses and 5. backward

    /// <summary>
    /// <c>L(x) = L_c + L_s + L_tv</c> and its terms (SPEC.md, "Loss"); fills
    /// <paramref name="gradient"/> (same shape as x) with <c>dL/dx</c> when it is given.
    /// </summary>
    public (double Total, double Content, double Style, double Tv) Evaluate(double[] x, double[]? gradient)
    {
        var steps = Forward(x, Shape);

        // Content: L_c = w_c * sum over content layers of mean((F_l(x) - F_l(content))^2).
        double content = 0;
        foreach (string layer in _contentLayers)
            content += MseLoss.ForwardReference(Find(steps, layer).Output, _contentTargets[layer],
                _lossWeights.Content);

        // Style: L_s = w_s * sum over style layers of (layer weight) * mean((G_l(x) - A_l)^2).
        double style = 0;
        for (int i = 0; i < _styleLayers.Count && _regions is null; i++)
        {
            var step = Find(steps, _styleLayers[i]);
            style += MseLoss.ForwardReference(GramOf(step.Output, step.OutShape), _styleTargets[_styleLayers[i]],
                _lossWeights.Style * _styleLayerWeights[i]);
        }

        // With regions: L_s = w_s * sum over regions r and layers of (layer weight) * mean((G^r_l(x) - A^r_l)^2).
        if (_regions is not null)
        {
            LastRegionStyle = _regions.Select(region => region.Loss(steps)).ToList();
            style = LastRegionStyle.Sum();
        }

        // Total variation on the input: L_tv = (w_tv / 2) * sum_c sum_{i<H-1} sum_{j<W-1}
        // [(x[c,i,j] - x[c,i,j+1])^2 + (x[c,i,j] - x[c,i+1,j])^2].
        double tv = TotalVariation.ForwardReference(x, Shape, _lossWeights.TotalVariation);

        // Video (section 7): L_temporal = (w_t / D) * sum m[i,j] (x[c,i,j] - t[c,i,j])^2, reported apart.
        LastTemporal = _temporal is var (target, weights, weight)
            ? TemporalLoss.ForwardReference(x, target, weights, Shape, weight)
            : 0;

        if (gradient is not null) Backward(x, steps, gradient);
        return (content + style + tv + LastTemporal, content, style, tv);
    }

    /// <summary>
    /// <c>dL/dx</c> by the chain rule, from the deepest layer to the image. At each ReLU a loss
    /// reads, that loss's gradient is added to the one flowing down (a loss is an identity layer
    /// that adds gradient, as in neural-style); then each layer maps the gradient of its output to
    /// the gradient of its input. The weights are frozen, so no weight gradient is computed.
    /// </summary>
    private void Backward(double[] x, List<Step> steps, double[] gradient)
    {
        var dOut = new double[steps[^1].Output.Length]; // dL/d(output of the current step)
        for (int k = steps.Count - 1; k >= 0; k--)
        {
            var step = steps[k];

            // d/dF of w * mean((F - P)^2) = (2 w / N) (F - P).
            if (_contentTargets.TryGetValue(step.Name, out var target))
                MseLoss.BackwardReference(dOut, step.Output, target, _lossWeights.Content, accumulate: true);

            // d/dG of w * mean((G - A)^2) = (2 w / C^2) (G - A), and through G = F F^T / N:
            // dF = (dG + dG^T) F / N.
            int styleIndex = IndexOf(_styleLayers, step.Name);
            foreach (var region in _regions ?? []) region.Backward(dOut, step, styleIndex);
            if (styleIndex >= 0 && _regions is null)
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
                // ReLU passes the gradient where its output is positive; the convolution's input
                // gradient is the convolution of dOut with the flipped, transposed weights.
                Relu.BackwardReference(dOut, dOut, step.Output);
                Conv2d.BackwardInputReference(dIn, dOut, ToDouble(conv.Weight),
                    Conv2dShape.Vgg(step.InShape.Channels, step.InShape.Height, step.InShape.Width, conv.OutChannels));
            }
            else if (step.Argmax is not null)
            {
                MaxPool2d.BackwardReference(dIn, dOut, step.Argmax, step.InShape); // to each window's maximum
            }
            else if (step.PoolInput is not null)
            {
                L2Pool2d.BackwardReference(dIn, dOut, step.PoolInput, step.InShape); // x_i / (4 y) of each window
            }
            else
            {
                AvgPool2d.BackwardReference(dIn, dOut, step.InShape); // a quarter to each of the window's pixels
            }
            dOut = dIn;
        }

        // The TV term depends on x directly: its gradient is added last, and so is the temporal term's.
        TotalVariation.BackwardReference(gradient, x, Shape, _lossWeights.TotalVariation, accumulate: true);
        if (_temporal is var (warped, reliable, temporalWeight))
            TemporalLoss.BackwardReference(gradient, x, warped, reliable, Shape, temporalWeight, accumulate: true);
    }

    // ---------------------------------------------------------------- 7. video: the temporal term

    /// <summary>
    /// Adds video's temporal term (Ruder, Dosovitskiy and Brox 2016, eq. 5) to the loss: x is kept near
    /// <paramref name="target"/>, the previous stylised frame warped to this one by the optical flow, wherever
    /// <paramref name="weights"/> (one per pixel, shared by the channels) says the flow is reliable. Its value is
    /// in <see cref="Evaluate"/>'s total and in <see cref="LastTemporal"/>.
    /// </summary>
    public void SetTemporal(double[] target, double[] weights, double weight) => _temporal = (target, weights, weight);

    /// <summary>The temporal term at the last <see cref="Evaluate"/> (0 without one).</summary>
    public double LastTemporal { get; private set; }

    // ---------------------------------------------------------------- 6. regions (guided Grams)

    /// <summary>
    /// One region's share of the style loss (Gatys et al. 2017, sec. 4; SPEC.md, "Regions"): at each
    /// style layer l, with <c>T_l</c> the region's guide there (<see cref="RegionGuides"/>),
    /// <c>G^r_l(x) = (F_l o T_l)(F_l o T_l)^T / (C_l * sum_p T_l[p]^2)</c>, compared with
    /// <c>A^r_l</c>, the same guided Gram of the region's style image under its own guide (all ones
    /// when it has none). A layer where either guide is zero everywhere has no Gram and adds nothing.
    /// </summary>
    private sealed class RegionTerms
    {
        private readonly ReferenceObjective _owner;
        private readonly Dictionary<string, double[]> _guides = [];  // T_l of the content, (H_l * W_l)
        private readonly Dictionary<string, double[]> _targets = []; // A^r_l, (C, C); absent: the term is left out

        public RegionTerms(ReferenceObjective owner, GuidePlane content, NetworkImage style, GuidePlane? styleGuide,
            MaskMode mode)
        {
            _owner = owner;
            var layers = owner._styleLayers;
            var contentGuides = RegionGuides.AtLayers(content, owner._weights, layers, mode);
            var styleGuides = styleGuide is null
                ? null
                : RegionGuides.AtLayers(styleGuide, owner._weights, layers, mode);
            var run = owner.Forward(ToDouble(style.Data), style.Shape);
            foreach (string layer in layers)
            {
                var step = Find(run, layer);
                var guide = styleGuides?[layer].Values ?? Enumerable.Repeat(1.0, step.OutShape.PlaneLength).ToArray();
                _guides[layer] = contentGuides[layer].Values;
                if (Scale(guide, step.OutShape) == 0 || Scale(_guides[layer], step.OutShape) == 0) continue;
                _targets[layer] = GuidedGram(step.Output, guide, step.OutShape);
            }
        }

        /// <summary>This region's style loss on the forward pass <paramref name="steps"/>.</summary>
        public double Loss(List<Step> steps)
        {
            double loss = 0;
            for (int i = 0; i < _owner._styleLayers.Count; i++)
            {
                string layer = _owner._styleLayers[i];
                if (!_targets.TryGetValue(layer, out var target)) continue;
                var step = Find(steps, layer);
                loss += MseLoss.ForwardReference(GuidedGram(step.Output, _guides[layer], step.OutShape), target,
                    _owner._lossWeights.Style * _owner._styleLayerWeights[i]);
            }
            return loss;
        }

        /// <summary>
        /// Adds this region's gradient at <paramref name="step"/> (style layer number
        /// <paramref name="styleIndex"/>, or -1) to <paramref name="dOut"/>: through the MSE, the Gram
        /// of <c>F o T</c>, and the multiply by T.
        /// </summary>
        public void Backward(double[] dOut, Step step, int styleIndex)
        {
            if (styleIndex < 0 || !_targets.TryGetValue(step.Name, out var target)) return;
            var guide = _guides[step.Name];
            var g = GramShape.Of(step.OutShape);
            var dGram = new double[g.GramLength];
            MseLoss.BackwardReference(dGram, GuidedGram(step.Output, guide, step.OutShape), target,
                _owner._lossWeights.Style * _owner._styleLayerWeights[styleIndex], accumulate: false);
            GuideMultiply.GuidedGramBackwardReference(dOut, dGram, step.Output, guide, g, Scale(guide, step.OutShape),
                accumulate: true);
        }

        private static double[] GuidedGram(double[] features, double[] guide, ChwShape shape)
        {
            var g = GramShape.Of(shape);
            var gram = new double[g.GramLength];
            GuideMultiply.GuidedGramReference(gram, features, guide, g, Scale(guide, shape));
            return gram;
        }

        /// <summary><c>1 / (C * sum_p T[p]^2)</c>, or 0 for a guide that is zero everywhere.</summary>
        private static double Scale(double[] guide, ChwShape shape)
        {
            double mass = guide.Sum(t => t * t);
            return mass == 0 ? 0 : 1 / (shape.Channels * mass);
        }
    }

    private static Step Find(List<Step> steps, string name) => steps.Single(s => s.Name == name);

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (int i = 0; i < names.Count; i++)
            if (names[i] == name) return i;
        return -1;
    }
}
