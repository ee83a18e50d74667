using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>
/// VGG-19 or VGG-16 on the device for one input size: conv + ReLU layers named
/// <c>conv{b}_{i}</c>/<c>relu{b}_{i}</c>, with <c>pool{b}</c> between blocks, cut after the deepest
/// layer any loss needs (no work past it).
/// </summary>
/// <remarks>
/// Forward keeps only the ReLU outputs a loss reads; the rest of what backward needs is a bit mask
/// per ReLU or a byte per max-pooling window (<see cref="NetworkPlan"/> decides which). Backward
/// needs only two gradient buffers the size of the largest tensor, used alternately from the
/// deepest layer back to the input ("ping-pong"): layer k's output gradient is in one and its
/// input gradient goes to the other; in the forward pass the same two buffers hold the outputs that
/// are not kept. Everything is allocated once, when the network is built, and so is every backward
/// closure: each captures the buffers it reads and writes then, so the tape a forward pass fills
/// replays on its own (micrograd's way), and an evaluation allocates nothing.
/// </remarks>
public sealed class VggNetwork
{
    private readonly KernelSet _kernels;
    private readonly List<Layer> _layers = [];
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] _gradients;
    private readonly ArrayView<float> _inputGradient;   // (3, H, W) what layer 0's backward writes
    private readonly ArrayView<float> _deepestGradient; // the last layer's output gradient, cleared before a replay

    /// <summary>
    /// Builds the network <paramref name="plan"/> describes (<see cref="NetworkPlan.Build"/>: its input size, the
    /// deepest layer, the outputs it keeps, the kernels), with the conv weights of <paramref name="weights"/> and
    /// the filters its variants read prepared from <paramref name="filters"/>, which must hold them
    /// (<see cref="NetworkPlan.Filters"/>).
    /// </summary>
    /// <exception cref="ArgumentException">An image too small for the pooling it needs, weights of another
    /// shape than planned, or filters of other weights.</exception>
    public VggNetwork(KernelSet kernels, DeviceMemory memory, VggWeights weights, NetworkPlan plan,
        PreparedFilters filters)
    {
        ArgumentNullException.ThrowIfNull(filters);
        if (!ReferenceEquals(filters.Weights, weights))
            throw new ArgumentException("The prepared filters were made from other weights.", nameof(filters));
        _kernels = kernels;
        Plan = plan;
        InputShape = plan.Input;
        int height = InputShape.Height, width = InputShape.Width;
        if (height <= 0 || width <= 0)
            throw new ArgumentException($"The image must have a positive size, got {width}x{height}.");
        string deepestLayer = plan.Layers[^1].Names.Last();
        foreach (var pool in Plan.Layers.Where(l => l.Conv is null))
        {
            if (pool.Input.Height < 2 || pool.Input.Width < 2)
            {
                throw new ArgumentException($"A {width}x{height} image is too small to reach {deepestLayer}: " +
                                            $"{pool.Name} needs at least 2x2 pixels, and it has " +
                                            $"{pool.Input.Width}x{pool.Input.Height}.");
            }
        }

        // Layer k's output gradient lives in buffer k mod 2 and its input gradient in the other one;
        // the input's own gradient (layer 0's input gradient) in buffer 1.
        _gradients = [memory.Floats(Plan.ScratchLength), memory.Floats(Plan.ScratchLength)];
        var winogradScratch = Plan.WinogradScratchLength > 0 ? memory.Floats(Plan.WinogradScratchLength).View
            : default;
        for (int k = 0; k < Plan.Layers.Count; k++)
        {
            var planned = Plan.Layers[k];
            var output = planned.Kept
                ? memory.Tensor(planned.Output)
                : new DeviceTensor(_gradients[planned.Scratch].View.SubView(0, planned.Output.Length), planned.Output);
            var gradients = new LayerGradients(Input: Gradient(k - 1, planned.Input.Length),
                                               Output: Gradient(k, planned.Output.Length));
            _layers.Add(planned.Conv is not null
                ? new ConvReluLayer(Weights(weights, planned), planned, output, gradients, kernels, memory,
                    winogradScratch, filters)
                : new PoolLayer(planned, Plan.Layers[k - 1], _layers[^1].Output, plan.Pooling, output, gradients,
                    kernels, memory));
        }
        _inputGradient = Gradient(-1, InputShape.Length);
        _deepestGradient = _layers[^1].Gradients.Output;
    }

    /// <summary>What the network computes and holds, layer by layer.</summary>
    public NetworkPlan Plan { get; }

    /// <summary>The input shape, <c>(3, H, W)</c>.</summary>
    public ChwShape InputShape { get; }

    /// <summary>Layer names in order, e.g. <c>conv1_1, relu1_1, conv1_2, relu1_2, pool1, ...</c>.</summary>
    public IEnumerable<string> LayerNames => Plan.LayerNames;

    /// <summary>The output of a kept ReLU layer (valid after <see cref="Forward"/>).</summary>
    /// <exception cref="ArgumentException">The network does not compute or does not keep that layer.</exception>
    public DeviceTensor Activation(string reluName)
    {
        var layer = _layers.OfType<ConvReluLayer>().FirstOrDefault(l => l.ReluName == reluName)
            ?? throw new ArgumentException($"The network does not compute {reluName} (it stops at " +
                                           $"{_layers[^1].Names.Last()}).");
        return layer.Planned.Kept
            ? layer.Output
            : throw new ArgumentException(
                $"The network does not keep {reluName}: name it among the kept layers when building it.");
    }

    /// <summary>The shape of a ReLU layer's output, kept or not.</summary>
    /// <exception cref="ArgumentException">The network does not compute that layer.</exception>
    public ChwShape OutputShape(string reluName) => Plan.OutputShape(reluName);

    /// <summary>
    /// Attaches a loss tap to the (kept) ReLU output it names; its backward closure is built here,
    /// reading that output and adding to its gradient.
    /// </summary>
    public void AddTap(ILossTap tap)
    {
        Activation(tap.Layer); // validates the name
        var layer = _layers.OfType<ConvReluLayer>().Single(l => l.ReluName == tap.Layer);
        var output = layer.Output;
        var dOutput = layer.Gradients.Output;
        layer.Taps.Add(new TapStep(tap, $"{tap.GetType().Name}@{tap.Layer}", () => tap.Backward(dOutput, output)));
    }

    /// <summary>
    /// Runs every layer on <paramref name="input"/> (a <c>(3, H, W)</c> view), the taps after their
    /// ReLU, and records each one's backward closure on <paramref name="tape"/>. With a
    /// <paramref name="profiler"/>, each piece is marked first ("conv1_1+relu1_1 forward").
    /// </summary>
    public void Forward(ArrayView<float> input, Tape tape, LayerProfiler? profiler = null)
    {
        Require.Length(input, InputShape.Length, nameof(input));
        var current = new DeviceTensor(input, InputShape);
        foreach (var layer in _layers)
        {
            profiler?.Mark(layer.ForwardLabel);
            layer.Forward(current);
            layer.RecordBackward(tape);
            foreach (var tap in layer.Taps)
            {
                profiler?.Mark(tap.Name + " forward");
                tap.Tap.Forward(layer.Output, profiler is null ? null : piece => profiler.Mark($"{tap.Name} {piece}"));
                tape.Record(tap.Name, tap.Backward);
            }
            current = layer.Output;
        }
    }

    /// <summary>
    /// Runs every layer on <paramref name="input"/> for the activations alone: no tap runs and nothing is recorded
    /// (a content image's targets, captured before or between evaluations).
    /// </summary>
    public void ForwardActivations(ArrayView<float> input)
    {
        Require.Length(input, InputShape.Length, nameof(input));
        var current = new DeviceTensor(input, InputShape);
        foreach (var layer in _layers)
        {
            layer.Forward(current);
            current = layer.Output;
        }
    }

    /// <summary>
    /// Clears the deepest layer's output gradient, replays the tape (through
    /// <paramref name="profiler"/>, which marks each entry, when given), and copies the gradient with
    /// respect to the input into <paramref name="dInput"/> (written, not accumulated).
    /// </summary>
    public void Backward(Tape tape, ArrayView<float> dInput, LayerProfiler? profiler = null)
    {
        Require.Length(dInput, InputShape.Length, nameof(dInput));
        var inputGradient = BackwardToInput(tape, profiler);
        profiler?.Mark("input gradient");
        _kernels.Vectors.Copy(dInput, inputGradient);
    }

    /// <summary>
    /// <see cref="Backward"/> without the copy: the gradient with respect to the input, <c>(3, H, W)</c>, is
    /// returned where the network left it, one of its own buffers, valid until the next forward pass.
    /// </summary>
    public ArrayView<float> BackwardToInput(Tape tape, LayerProfiler? profiler = null)
    {
        _kernels.Vectors.Fill(_deepestGradient, 0f);
        if (profiler is null) tape.Backward();
        else profiler.Replay(tape);
        return _inputGradient;
    }

    /// <summary>The weights of a planned conv layer, which must have the planned shape.</summary>
    private static ConvLayerWeights Weights(VggWeights weights, PlannedLayer planned)
    {
        var conv = weights[planned.Name];
        if (conv.InChannels != planned.Input.Channels || conv.OutChannels != planned.Output.Channels)
        {
            throw new ArgumentException($"{planned.Name} was planned for {planned.Input.Channels} -> " +
                                        $"{planned.Output.Channels} channels, but its weights have " +
                                        $"{conv.InChannels} -> {conv.OutChannels}.");
        }
        return conv;
    }

    /// <summary>Layer k's output gradient (k = -1: the input's), sized to <paramref name="length"/>.</summary>
    private ArrayView<float> Gradient(int k, int length) => _gradients[(k + 2) % 2].View.SubView(0, length);

    // ------------------------------------------------------------------ layers

    /// <summary>The two gradient views of a layer, fixed when the network is built.</summary>
    /// <param name="Input">dInput, which the layer's backward writes.</param>
    /// <param name="Output">dOutput, which it reads (and, for a ReLU, masks in place).</param>
    private readonly record struct LayerGradients(ArrayView<float> Input, ArrayView<float> Output);

    /// <summary>A loss tap on a layer's output: its tape label and its backward closure, built once.</summary>
    private sealed record TapStep(ILossTap Tap, string Name, Action Backward);

    private abstract class Layer(LayerGradients gradients)
    {
        public LayerGradients Gradients { get; } = gradients;

        public List<TapStep> Taps { get; } = [];

        public abstract DeviceTensor Output { get; }

        public abstract IEnumerable<string> Names { get; }

        /// <summary>The profiler's label of the forward pass: <c>conv1_1+relu1_1 forward</c>.</summary>
        public string ForwardLabel => string.Join("+", Names) + " forward";

        public abstract void Forward(DeviceTensor input);

        /// <summary>Records the closures built with the layer (recording allocates nothing).</summary>
        public abstract void RecordBackward(Tape tape);
    }

    /// <summary>
    /// conv{b}_{i} with its bias and ReLU fused into one kernel. Backward is the input gradient through
    /// the ReLU, one call: the mask comes from the kept output, from bits packed in the forward pass, or
    /// from nowhere when a max pooling follows (<see cref="ReluMaskSource"/>); the convolution applies it
    /// (<see cref="Conv2d.BackwardInput"/>), and prepares the weights its variants read once, here.
    /// </summary>
    private sealed class ConvReluLayer : Layer
    {
        private readonly KernelSet _kernels;
        private readonly Conv2dWeights _weights;       // W (K, C, 3, 3), bias (K), W' where the variant reads it
        private readonly ArrayView<uint> _maskBits;    // ceil(K*H*W / 32) words with Mask == Bits; empty otherwise
        private readonly string _convLabel;            // conv3_1, or relu3_1+conv3_1 with the ReLU's mask applied
        private readonly Action _convBackward;

        public ConvReluLayer(ConvLayerWeights weights, PlannedLayer planned, DeviceTensor output,
            LayerGradients gradients, KernelSet kernels, DeviceMemory memory, ArrayView<float> winogradScratch,
            PreparedFilters filters)
            : base(gradients)
        {
            _kernels = kernels;
            Planned = planned;
            ConvName = weights.Name;
            ReluName = planned.ReluName!;
            var shape = planned.Conv!.Value; // the plan's, as it counted the layer's bytes
            // W only where a direction reads it: on the CPU every layer reads filters made once per run instead.
            var weight = Conv2d.ReadsWeight(shape, planned.Kernels) ? memory.Upload(weights.Weight).View : default;
            var bias = memory.Upload(weights.Bias).View;
            Output = output;
            if (planned.Mask == ReluMaskSource.Bits)
                _maskBits = memory.Words(Relu.MaskWords(output.Shape.Length)).View;
            string name = weights.Name;
            _weights = kernels.Conv.Prepare(shape, weight, bias, n => memory.Floats(n).View, planned.Kernels,
                winogradScratch, key => filters.Find(name, key));

            // The closure the tape replays: the input gradient through the ReLU (its mask, where there is one).
            var (dInput, dOutput) = (gradients.Input, gradients.Output);
            var reluOutput = planned.Mask == ReluMaskSource.KeptOutput ? output.View : default;
            var bits = _maskBits;
            _convLabel = planned.Mask == ReluMaskSource.MaxPooling ? ConvName : $"{ReluName}+{ConvName}";
            _convBackward = () => kernels.Conv.BackwardInput(dInput, dOutput, _weights, reluOutput, bits);
        }

        public PlannedLayer Planned { get; }

        public string ConvName { get; }

        public string ReluName { get; }

        public override DeviceTensor Output { get; }

        public override IEnumerable<string> Names => [ConvName, ReluName];

        // The mask's bits are packed before the next layers reuse Output's buffer.
        public override void Forward(DeviceTensor input) =>
            _kernels.Conv.Forward(Output.View, _maskBits, input.View, _weights, fuseRelu: true);

        public override void RecordBackward(Tape tape) => tape.Record(_convLabel, _convBackward);
    }

    /// <summary>
    /// pool{b}: 2x2/stride 2, max (with a byte of argmax per window for backward, and the ReLU below
    /// it fused: see <see cref="MaxPool2d"/>), average, or L2 (whose backward reads the input, the ReLU output
    /// below, which the plan keeps for it).
    /// </summary>
    private sealed class PoolLayer : Layer
    {
        private readonly KernelSet _kernels;
        private readonly ChwShape _inputShape;
        private readonly Pooling _pooling;
        private readonly ArrayView<byte> _argmax;
        private readonly string _name;
        private readonly Action _backward;

        public PoolLayer(PlannedLayer planned, PlannedLayer below, DeviceTensor input, Pooling pooling,
            DeviceTensor output, LayerGradients gradients, KernelSet kernels, DeviceMemory memory)
            : base(gradients)
        {
            if (pooling == Pooling.L2 && !below.Kept)
                throw new ArgumentException($"{planned.Name} is an L2 pooling, whose backward reads its input, and " +
                                            $"the plan does not keep {below.ReluName}.", nameof(below));
            _name = planned.Name;
            _kernels = kernels;
            _inputShape = planned.Input;
            _pooling = pooling;
            Output = output;
            var argmax = pooling == Pooling.Max ? memory.Bytes(output.Shape.Length).View : default;
            _argmax = argmax;
            var (dInput, dOutput) = (gradients.Input, gradients.Output);
            var kept = input.View; // valid in backward only with L2 pooling (checked above)
            _backward = pooling switch
            {
                Pooling.Max => () => kernels.MaxPool.Backward(dInput, dOutput, argmax, planned.Input),
                Pooling.Avg => () => kernels.AvgPool.Backward(dInput, dOutput, planned.Input),
                Pooling.L2 => () => kernels.L2Pool.Backward(dInput, dOutput, kept, planned.Input),
                _ => throw new ArgumentOutOfRangeException(nameof(pooling), pooling, "Not a pooling."),
            };
        }

        public override DeviceTensor Output { get; }

        public override IEnumerable<string> Names => [_name];

        public override void Forward(DeviceTensor input)
        {
            switch (_pooling)
            {
                case Pooling.Max:
                    _kernels.MaxPool.Forward(Output.View, _argmax, input.View, _inputShape, reluInput: true);
                    break;
                case Pooling.Avg: _kernels.AvgPool.Forward(Output.View, input.View, _inputShape); break;
                case Pooling.L2: _kernels.L2Pool.Forward(Output.View, input.View, _inputShape); break;
            }
        }

        public override void RecordBackward(Tape tape) => tape.Record(_name, _backward);
    }
}
