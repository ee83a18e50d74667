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
/// are not kept. Everything is allocated once, when the network is built.
/// </remarks>
public sealed class VggNetwork
{
    private readonly KernelSet _kernels;
    private readonly List<Layer> _layers = [];
    private readonly Dictionary<string, List<ILossTap>> _taps = [];
    private readonly Dictionary<ILossTap, Action> _tapBackwards = [];
    private readonly MemoryBuffer1D<float, Stride1D.Dense>[] _gradients;
    private ArrayView<float> _dInput;

    /// <summary>
    /// Builds the network for inputs of shape <c>(3, height, width)</c>, up to and including
    /// <paramref name="deepestLayer"/> (a <c>relu{b}_{i}</c> name), keeping the outputs of the ReLU
    /// layers named in <paramref name="kept"/> (those the caller will tap or read), with the kernels
    /// <paramref name="kernels"/> chooses (<see cref="KernelSet.Choice"/>).
    /// </summary>
    /// <exception cref="StyleSetupException">An unknown layer name.</exception>
    /// <exception cref="ArgumentException">A kept layer past the deepest, or an image too small for the pooling it
    /// needs.</exception>
    public VggNetwork(KernelSet kernels, DeviceMemory memory, VggWeights weights, int height, int width,
        string deepestLayer, Pooling pooling, IReadOnlyCollection<string> kept)
    {
        _kernels = kernels;
        InputShape = new ChwShape(3, height, width);
        if (height <= 0 || width <= 0)
            throw new ArgumentException($"The image must have a positive size, got {width}x{height}.");
        foreach (string name in kept.Append(deepestLayer)) weights.Architecture.CheckReluName(name);

        Plan = NetworkPlan.Build(weights, height, width, deepestLayer, pooling, kept, kernels.Choice);
        foreach (var pool in Plan.Layers.Where(l => l.Conv is null))
        {
            if (pool.Input.Height < 2 || pool.Input.Width < 2)
            {
                throw new ArgumentException($"A {width}x{height} image is too small to reach {deepestLayer}: " +
                                            $"{pool.Name} needs at least 2x2 pixels, and it has " +
                                            $"{pool.Input.Width}x{pool.Input.Height}.");
            }
        }
        if (weights.Architecture.Deepest(kept.Append(deepestLayer)) != deepestLayer)
            throw new ArgumentException($"A kept layer lies past {deepestLayer}, where the network stops.");

        _gradients = [memory.Floats(Plan.ScratchLength), memory.Floats(Plan.ScratchLength)];
        foreach (var planned in Plan.Layers)
        {
            var output = planned.Kept
                ? memory.Tensor(planned.Output)
                : new DeviceTensor(_gradients[planned.Scratch].View.SubView(0, planned.Output.Length), planned.Output);
            _layers.Add(planned.Conv is { } conv
                ? new ConvReluLayer(conv, planned, output, kernels, memory)
                : new PoolLayer(planned, pooling, output, kernels, memory));
        }
    }

    /// <summary>What the network computes and holds, layer by layer.</summary>
    public NetworkPlan Plan { get; }

    /// <summary>The input shape, <c>(3, H, W)</c>.</summary>
    public ChwShape InputShape { get; }

    /// <summary>Layer names in order, e.g. <c>conv1_1, relu1_1, conv1_2, relu1_2, pool1, ...</c>.</summary>
    public IEnumerable<string> LayerNames => _layers.SelectMany(l => l.Names);

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
    public ChwShape OutputShape(string reluName) =>
        Plan.Layers.FirstOrDefault(l => l.ReluName == reluName)?.Output
        ?? throw new ArgumentException($"The network does not compute {reluName} (it stops at " +
                                       $"{_layers[^1].Names.Last()}).");

    /// <summary>Attaches a loss tap to the (kept) ReLU output it names.</summary>
    public void AddTap(ILossTap tap)
    {
        Activation(tap.Layer); // validates the name
        if (!_taps.TryGetValue(tap.Layer, out var list)) _taps[tap.Layer] = list = [];
        list.Add(tap);
    }

    /// <summary>
    /// Runs every layer on <paramref name="input"/> (a <c>(3, H, W)</c> view), the taps after
    /// their ReLU, and records the backward closures
    /// on <paramref name="tape"/>.
    /// </summary>
    public void Forward(ArrayView<float> input, Tape tape)
    {
        Require.Length(input, InputShape.Length, nameof(input));
        var current = new DeviceTensor(input, InputShape);
        for (int k = 0; k < _layers.Count; k++)
        {
            var layer = _layers[k];
            tape.Profiler?.Mark(string.Join("+", layer.Names) + " forward");
            layer.Forward(current);
            layer.RecordBackward(tape, this, k);
            if (layer is ConvReluLayer conv && _taps.TryGetValue(conv.ReluName, out var taps))
            {
                foreach (var tap in taps)
                {
                    tape.Profiler?.Mark($"{tap.GetType().Name}@{conv.ReluName} forward");
                    tap.Forward(conv.Output);
                    if (!_tapBackwards.TryGetValue(tap, out var backward))
                    {
                        int index = k;
                        _tapBackwards[tap] = backward = () => tap.Backward(OutputGradient(index), conv.Output);
                    }
                    tape.Record($"{tap.GetType().Name}@{conv.ReluName}", backward);
                }
            }
            current = layer.Output;
        }
    }

    /// <summary>
    /// Clears the deepest layer's output gradient, replays the tape, and leaves the gradient with
    /// respect to the input in <paramref name="dInput"/> (written, not accumulated).
    /// </summary>
    public void Backward(Tape tape, ArrayView<float> dInput)
    {
        Require.Length(dInput, InputShape.Length, nameof(dInput));
        _dInput = dInput;
        _kernels.Vectors.Fill(OutputGradient(_layers.Count - 1), 0f);
        tape.Backward();
    }

    /// <summary>Gradient of layer k's output: ping-pong buffer k mod 2, sized to the output.</summary>
    private ArrayView<float> OutputGradient(int k) => _gradients[k % 2].View.SubView(0, _layers[k].Output.Shape.Length);

    /// <summary>Gradient of layer k's input: the other buffer, or the caller's dInput for layer 0.</summary>
    private ArrayView<float> InputGradient(int k) => k == 0 ? _dInput : OutputGradient(k - 1);

    // ------------------------------------------------------------------ layers

    private abstract class Layer
    {
        public abstract DeviceTensor Output { get; }

        public abstract IEnumerable<string> Names { get; }

        public abstract void Forward(DeviceTensor input);

        public abstract void RecordBackward(Tape tape, VggNetwork network, int index);
    }

    /// <summary>
    /// conv{b}_{i} with its bias and ReLU fused into one kernel. Backward is the ReLU mask, then the
    /// input gradient. The mask comes from the kept output, from bits packed in the forward pass, or
    /// from nowhere when a max pooling follows (<see cref="ReluMaskSource"/>). The tiled kernel
    /// applies a kept output's mask as it loads dOut, and runs over the transposed, flipped weights
    /// prepared here once.
    /// </summary>
    private sealed class ConvReluLayer : Layer
    {
        private readonly KernelSet _kernels;
        private readonly Conv2dShape _shape;
        private readonly ArrayView<float> _weight;     // (K, C, 3, 3)
        private readonly ArrayView<float> _bias;       // (K)
        private readonly ArrayView<float> _transposed; // (C, K, 3, 3) flipped, for the tiled backward; empty otherwise
        private readonly ArrayView<uint> _maskBits;    // ceil(K*H*W / 32) words with Mask == Bits; empty otherwise
        private readonly string _convName;
        private Action? _reluBackward;
        private Action? _convBackward;

        public ConvReluLayer(ConvLayerWeights weights, PlannedLayer planned, DeviceTensor output,
            KernelSet kernels, DeviceMemory memory)
        {
            _kernels = kernels;
            Planned = planned;
            _convName = weights.Name;
            ReluName = planned.ReluName!;
            var input = planned.Input;
            _shape = Conv2dShape.Vgg(input.Channels, input.Height, input.Width, weights.OutChannels);
            _weight = memory.Upload(weights.Weight).View;
            _bias = memory.Upload(weights.Bias).View;
            Output = output;
            if (planned.Mask == ReluMaskSource.Bits)
                _maskBits = memory.Words(Relu.MaskWords(output.Shape.Length)).View;
            if (planned.Kernels.TiledInputGradient)
            {
                _transposed = memory.Floats(_shape.WeightLength).View;
                kernels.Conv.TransposeFlip(_transposed, _weight, _shape);
            }
        }

        public PlannedLayer Planned { get; }

        public string ReluName { get; }

        public override DeviceTensor Output { get; }

        public override IEnumerable<string> Names => [_convName, ReluName];

        public override void Forward(DeviceTensor input)
        {
            _kernels.Conv.Forward(Output.View, input.View, _weight, _bias, _shape, fuseRelu: true,
                Planned.Kernels.Forward);
            if (Planned.Mask == ReluMaskSource.Bits)
                _kernels.Relu.PackMask(_maskBits, Output.View); // before the next layers reuse Output's buffer
        }

        public override void RecordBackward(Tape tape, VggNetwork network, int index)
        {
            // Built once: recording an existing delegate allocates nothing. The tape replays in
            // reverse, so the ReLU step recorded last runs first.
            var mask = Planned.Mask;
            if (Planned.Kernels.InputGradient == KernelVariant.Cpu)
            {
                // The host-code input gradient applies any ReLU mask as it gathers dOut: no ReLU step.
                var output = mask == ReluMaskSource.KeptOutput ? Output.View : default;
                var bits = mask == ReluMaskSource.Bits ? _maskBits : default;
                _convBackward ??= () => _kernels.Conv.BackwardInputCpu(network.InputGradient(index),
                    network.OutputGradient(index), _weight, _shape, output, bits);
                tape.Record(mask == ReluMaskSource.MaxPooling ? _convName : $"{ReluName}+{_convName}", _convBackward);
                return;
            }
            bool tiled = Planned.Kernels.TiledInputGradient;
            _convBackward ??= BackwardInput(network, index, tiled,
                fusedMask: tiled && mask == ReluMaskSource.KeptOutput ? Output.View : default);
            tape.Record(tiled && mask == ReluMaskSource.KeptOutput ? $"{ReluName}+{_convName}" : _convName,
                _convBackward);
            if (mask == ReluMaskSource.MaxPooling || (tiled && mask == ReluMaskSource.KeptOutput)) return;

            _reluBackward ??= () =>
            {
                var dOutput = network.OutputGradient(index); // masked in place
                if (mask == ReluMaskSource.Bits)
                    _kernels.Relu.BackwardBits(dOutput, dOutput, _maskBits);
                else
                    _kernels.Relu.Backward(dOutput, dOutput, Output.View);
            };
            tape.Record(ReluName, _reluBackward);
        }

        /// <summary>
        /// The input gradient, in the variant the plan chose: the tiled kernels over the transposed
        /// weights (masking dOut by <paramref name="fusedMask"/> as they load it, when given), or a
        /// plain kernel over the weights.
        /// </summary>
        private Action BackwardInput(VggNetwork network, int index, bool tiled, ArrayView<float> fusedMask)
        {
            var variant = Planned.Kernels.InputGradient;
            if (!tiled)
                return () => _kernels.Conv.BackwardInput(network.InputGradient(index), network.OutputGradient(index),
                    _weight, _shape, variant);
            return variant == KernelVariant.Tf32
                ? () => _kernels.Conv.BackwardInputTf32(network.InputGradient(index), network.OutputGradient(index),
                    _transposed, fusedMask, _shape)
                : () => _kernels.Conv.BackwardInputTiled(network.InputGradient(index), network.OutputGradient(index),
                    _transposed, fusedMask, _shape);
        }
    }

    /// <summary>
    /// pool{b}: 2x2/stride 2, max (with a byte of argmax per window for backward, and the ReLU below
    /// it fused: see <see cref="MaxPool2d"/>) or average.
    /// </summary>
    private sealed class PoolLayer : Layer
    {
        private readonly KernelSet _kernels;
        private readonly ChwShape _inputShape;
        private readonly Pooling _pooling;
        private readonly ArrayView<byte> _argmax;
        private readonly string _name;
        private Action? _backward;

        public PoolLayer(PlannedLayer planned, Pooling pooling, DeviceTensor output,
            KernelSet kernels, DeviceMemory memory)
        {
            _name = planned.Name;
            _kernels = kernels;
            _inputShape = planned.Input;
            _pooling = pooling;
            Output = output;
            _argmax = pooling == Pooling.Max ? memory.Bytes(output.Shape.Length).View : default;
        }

        public override DeviceTensor Output { get; }

        public override IEnumerable<string> Names => [_name];

        public override void Forward(DeviceTensor input)
        {
            if (_pooling == Pooling.Max)
                _kernels.MaxPool.Forward(Output.View, _argmax, input.View, _inputShape, reluInput: true);
            else
                _kernels.AvgPool.Forward(Output.View, input.View, _inputShape);
        }

        public override void RecordBackward(Tape tape, VggNetwork network, int index)
        {
            _backward ??= () =>
            {
                if (_pooling == Pooling.Max)
                    _kernels.MaxPool.Backward(network.InputGradient(index),
                        network.OutputGradient(index), _argmax, _inputShape);
                else
                    _kernels.AvgPool.Backward(network.InputGradient(index), network.OutputGradient(index), _inputShape);
            };
            tape.Record(_name, _backward);
        }
    }
}
