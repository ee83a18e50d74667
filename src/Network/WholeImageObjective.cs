using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Losses;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>
/// The objective over the whole image at once: one network the image's size, with content and style taps on
/// its kept ReLU outputs (neural-style's loss modules), so an evaluation is one forward and one backward pass.
/// </summary>
/// <remarks>
/// Building it captures the targets: each style image is forwarded through a temporary network of its own size
/// to accumulate <c>A_l = sum_k b_k G_l(style_k)</c> (freed before the main network exists, so that the peak is
/// the larger of the two networks, not their sum), then the content image through the main network for
/// <c>F_l(content)</c>. With regions each region's targets are captured instead
/// (WholeImageObjective.Regions.cs). Everything is allocated here, in the order
/// <see cref="ObjectivePlan"/> counts it.
/// </remarks>
internal sealed partial class WholeImageObjective : StyleObjective
{
    private VggNetwork? _network; // null when only total variation is optimized
    private readonly Tape _tape = new();
    private List<MemoryBuffer1D<float, Stride1D.Dense>> _contentTargets = []; // F_l(content), per layer

    public WholeImageObjective(KernelSet kernels, ObjectivePlan plan, DeviceMemory memory, VggWeights weights,
        ObjectiveImages images, PreparedFilters? filters)
        : base(kernels, plan, memory, weights, filters)
    {
        var loss = plan.Loss;
        if (plan.Network is not { } networkPlan) return; // only total variation: no network needed
        var blended = loss.Regions is null ? loss.Style : []; // with regions, each has its own targets
        if (loss.StyleLoss == StyleLossKind.W2)
        {
            ConstructW2(weights, images, networkPlan, blended);
            return;
        }

        // Style targets first: A_l = sum_k b_k G_l(style_k).
        var styleTargets = blended.Select(l => Memory.Floats(l.GramLength)).ToList();
        foreach (var target in styleTargets) kernels.Vectors.Fill(target.View, 0f);
        if (blended.Count > 0)
        {
            CaptureEachStyle(weights, images, (k, styleNetwork) =>
            {
                for (int i = 0; i < blended.Count; i++)
                {
                    var activation = styleNetwork.Activation(blended[i].Name);
                    var gram = Memory.Floats(GramShape.Of(activation.Shape).GramLength);
                    kernels.Gram.Forward(gram.View, activation.View, GramShape.Of(activation.Shape),
                        StyleLoss.GramScale(activation.Shape));
                    kernels.Vectors.Axpy(styleTargets[i].View, loss.Blend[k], gram.View);
                }
            });
        }
        var regionTargets = images.Regions is { } regions && loss.Style.Count > 0
            ? CaptureRegionTargets(weights, images.Styles, regions)
            : null;

        var (network, normalizer) = MainNetwork(weights, images, networkPlan);
        for (int i = 0; i < blended.Count; i++)
        {
            var layer = blended[i];
            network.AddTap(new StyleLoss(layer.Name, network.Activation(layer.Name).Shape, kernels, Memory,
                styleTargets[i].View, StyleScalar(0), layer.Weight, normalizer));
        }
        if (regionTargets is not null) AddRegionTaps(weights, images.Regions!, regionTargets, normalizer);
        kernels.Accelerator.Synchronize();
    }

    /// <summary>
    /// Forwards each style image through its own network, in a scope of its own, and hands the network to
    /// <paramref name="capture"/> (with the image's index) to read its targets off; the network's buffers are freed
    /// before the next image's (both forms: Gram matrices, W2 moments).
    /// </summary>
    private void CaptureEachStyle(VggWeights weights, ObjectiveImages images, Action<int, VggNetwork> capture)
    {
        for (int k = 0; k < images.Styles.Count; k++)
        {
            using var scope = Memory.Scope();
            var styleNetwork = Network(weights, Plan.StyleNetworks[k]);
            var input = Memory.Upload(images.Styles[k].Data);
            styleNetwork.Forward(input.View, new Tape());
            capture(k, styleNetwork);
            Kernels.Accelerator.Synchronize(); // the scope frees the style network's buffers next
        }
    }

    /// <summary>
    /// The network this objective evaluates, after the style targets (both forms): the gradient normaliser, the
    /// content targets <c>F_l(content)</c> captured with this network, and the content taps. The style taps follow.
    /// </summary>
    private (VggNetwork Network, GradientNormalizer? Normalizer) MainNetwork(VggWeights weights,
        ObjectiveImages images, NetworkPlan networkPlan)
    {
        var loss = Plan.Loss;
        var network = Network(weights, networkPlan);
        _network = network;
        int largest = loss.UsedLayers.Max(l => network.OutputShape(l).Length); // the largest a tap normalizes
        var normalizer = loss.Normalize ? new GradientNormalizer(Kernels, Memory, largest) : null;
        _contentTargets = loss.Content.Select(l => Memory.Floats(network.Activation(l.Name).Shape.Length))
            .ToList();
        if (images.Content is { } content) CaptureContent(content);
        for (int i = 0; i < loss.Content.Count; i++)
        {
            network.AddTap(new ContentLoss(loss.Content[i].Name, Kernels, _contentTargets[i].View, ContentScalar,
                loss.Content[i].Weight, normalizer));
        }
        return (network, normalizer);
    }

    /// <summary>
    /// The Wasserstein-2 form (SPEC.md; regions are refused when it is planned): each layer's blended mean and
    /// second moment from the style images' networks, the target's covariance root once on the host, then the
    /// main network with its content taps and a <see cref="W2StyleLoss"/> per style layer.
    /// </summary>
    private void ConstructW2(VggWeights weights, ObjectiveImages images, NetworkPlan networkPlan,
        IReadOnlyList<LossLayer> style)
    {
        var kernels = Kernels;
        var loss = Plan.Loss;
        var targetBuffers = style.Select(l => Memory.Floats(W2Target.Floats(l.Channels))).ToList();
        var targets = new List<W2Target>();
        using (Memory.Scope())
        {
            var moments = style.Select(l => Memory.Floats(W2Target.Floats(l.Channels))).ToList();
            foreach (var m in moments) kernels.Vectors.Fill(m.View, 0f);
            if (style.Count > 0)
            {
                CaptureEachStyle(weights, images, (k, styleNetwork) =>
                {
                    for (int i = 0; i < style.Count; i++)
                    {
                        var scratch = Memory.Floats(W2Target.Floats(style[i].Channels));
                        W2Target.AddMoments(kernels, moments[i].View, styleNetwork.Activation(style[i].Name),
                            loss.Blend[k], scratch.View);
                    }
                });
            }
            for (int i = 0; i < style.Count; i++)
                targets.Add(W2Target.FromMoments(kernels, moments[i].View, targetBuffers[i].View, style[i].Channels));
        }

        var (network, normalizer) = MainNetwork(weights, images, networkPlan);
        var roots = new W2ExactRoots(kernels);
        for (int i = 0; i < style.Count; i++)
        {
            network.AddTap(new W2StyleLoss(style[i].Name, network.Activation(style[i].Name).Shape, kernels, Memory,
                targets[i], StyleScalar(0), style[i].Weight, normalizer, roots));
        }
        kernels.Accelerator.Synchronize();
    }

    /// <summary>The content image forwarded (held only meanwhile), its content layers' activations copied into the
    /// targets.</summary>
    private protected override void CaptureContent(NetworkImage content)
    {
        if (_network is not { } network || Plan.Loss.Content.Count == 0) return;
        using var scope = Memory.Scope();
        var input = Memory.Upload(content.Data);
        network.ForwardActivations(input.View);
        for (int i = 0; i < Plan.Loss.Content.Count; i++)
            Kernels.Vectors.Copy(_contentTargets[i].View, network.Activation(Plan.Loss.Content[i].Name).View);
        Kernels.Accelerator.Synchronize(); // the scope frees the input next
    }

    private protected override void EvaluateNetwork(ArrayView<float> x, ArrayView<float> gradient,
        LayerProfiler? profiler)
    {
        if (_network is null)
        {
            Kernels.Vectors.Fill(gradient, 0f);
            return;
        }
        _tape.Clear();
        _network.Forward(x, _tape, profiler);        // content and style taps add their losses here
        _network.Backward(_tape, gradient, profiler); // and their gradients here
    }
}
