using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>Pooling between VGG blocks.</summary>
public enum Pooling
{
    /// <summary>2x2 max pooling, as VGG was trained.</summary>
    Max,

    /// <summary>2x2 average pooling (Gatys et al. found it gives slightly smoother results).</summary>
    Avg,
}

/// <summary>
/// VGG-19 or VGG-16 on the device for one input size: conv + ReLU layers named
/// <c>conv{b}_{i}</c>/<c>relu{b}_{i}</c>, with <c>pool{b}</c> between blocks, cut after the deepest
/// layer any loss needs (no work past it).
/// </summary>
/// <remarks>
/// Forward keeps every ReLU output (the ReLU backward masks with it, and loss taps read it) and the
/// max-pooling argmax. Backward needs only two gradient buffers the size of the largest
/// activation, used alternately from the deepest layer back to the input ("ping-pong"): layer k's
/// output gradient is in one and its input gradient goes to the other. Everything is allocated
/// once, when the network is built.
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
    /// <paramref name="deepestLayer"/> (a <c>relu{b}_{i}</c> name).
    /// </summary>
    /// <exception cref="ArgumentException">An unknown layer name, or an image too small for the pooling it needs.</exception>
    public VggNetwork(KernelSet kernels, DeviceMemory memory, VggWeights weights, int height, int width,
        string deepestLayer, Pooling pooling)
    {
        _kernels = kernels;
        InputShape = new ChwShape(3, height, width);
        if (height <= 0 || width <= 0)
            throw new ArgumentException($"The image must have a positive size, got {width}x{height}.");
        if (!weights.Architecture.ConvNames.Contains("conv" + LayerSuffix(deepestLayer)))
            throw new ArgumentException($"{weights.Architecture.Name} has no layer '{deepestLayer}' (its ReLU layers are {string.Join(", ", ReluNames(weights.Architecture))}).");

        var shape = InputShape;
        int block = 1;
        foreach (var conv in weights.Layers)
        {
            int convBlock = int.Parse(conv.Name.AsSpan(4, conv.Name.IndexOf('_', StringComparison.Ordinal) - 4), System.Globalization.CultureInfo.InvariantCulture);
            if (convBlock != block)
            {
                if (shape.Height < 2 || shape.Width < 2)
                    throw new ArgumentException(
                        $"A {width}x{height} image is too small to reach {deepestLayer}: pool{block} needs at least 2x2 pixels, and it has {shape.Width}x{shape.Height}.");
                var pool = new PoolLayer($"pool{block}", shape, pooling, kernels, memory);
                _layers.Add(pool);
                shape = pool.Output.Shape;
                block = convBlock;
            }
            var layer = new ConvReluLayer(conv, shape, kernels, memory);
            _layers.Add(layer);
            shape = layer.Output.Shape;
            if (layer.ReluName == deepestLayer) break;
        }

        int largest = _layers.Max(l => l.Output.Shape.Length);
        largest = Math.Max(largest, InputShape.Length);
        _gradients = [memory.Floats(largest), memory.Floats(largest)];
    }

    /// <summary>The input shape, <c>(3, H, W)</c>.</summary>
    public ChwShape InputShape { get; }

    /// <summary>Layer names in order, e.g. <c>conv1_1, relu1_1, conv1_2, relu1_2, pool1, ...</c>.</summary>
    public IEnumerable<string> LayerNames => _layers.SelectMany(l => l.Names);

    /// <summary>The output of a ReLU layer (valid after <see cref="Forward"/>).</summary>
    public DeviceTensor Activation(string reluName) =>
        _layers.OfType<ConvReluLayer>().FirstOrDefault(l => l.ReluName == reluName)?.Output
        ?? throw new ArgumentException($"The network does not compute {reluName} (it stops at {_layers[^1].Names.Last()}).");

    /// <summary>Attaches a loss tap to the ReLU output it names.</summary>
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

    private static string LayerSuffix(string reluName) => reluName.StartsWith("relu", StringComparison.Ordinal) ? reluName[4..] : "?";

    private static IEnumerable<string> ReluNames(VggArchitecture architecture) => architecture.ConvNames.Select(n => "relu" + n[4..]);

    // ------------------------------------------------------------------ layers

    private abstract class Layer
    {
        public abstract DeviceTensor Output { get; }

        public abstract IEnumerable<string> Names { get; }

        public abstract void Forward(DeviceTensor input);

        public abstract void RecordBackward(Tape tape, VggNetwork network, int index);
    }

    /// <summary>
    /// conv{b}_{i} with its bias and ReLU fused into one kernel. Backward is two steps (ReLU mask,
    /// then the input gradient) with the plain kernels, or one with the tiled kernel, which masks as
    /// it loads and runs over the transposed, flipped weights prepared here once.
    /// </summary>
    private sealed class ConvReluLayer : Layer
    {
        private readonly KernelSet _kernels;
        private readonly Conv2dShape _shape;
        private readonly ArrayView<float> _weight;     // (K, C, 3, 3)
        private readonly ArrayView<float> _bias;       // (K)
        private readonly ArrayView<float> _transposed; // (C, K, 3, 3) flipped, for the tiled backward; empty otherwise
        private readonly string _convName;
        private Action? _reluBackward;
        private Action? _convBackward;

        public ConvReluLayer(ConvLayerWeights weights, ChwShape input, KernelSet kernels, DeviceMemory memory)
        {
            _kernels = kernels;
            _convName = weights.Name;
            ReluName = "relu" + weights.Name[4..];
            _shape = Conv2dShape.Vgg(input.Channels, input.Height, input.Width, weights.OutChannels);
            _weight = memory.Upload(weights.Weight).View;
            _bias = memory.Upload(weights.Bias).View;
            Output = memory.Tensor(_shape.Output);
            if (kernels.PreferTiled)
            {
                _transposed = memory.Floats(_shape.WeightLength).View;
                kernels.Conv.TransposeFlip(_transposed, _weight, _shape);
            }
        }

        public string ReluName { get; }

        public override DeviceTensor Output { get; }

        public override IEnumerable<string> Names => [_convName, ReluName];

        public override void Forward(DeviceTensor input)
        {
            if (_kernels.UseTf32)
                _kernels.Conv.ForwardTf32(Output.View, input.View, _weight, _bias, _shape, fuseRelu: true);
            else if (_kernels.PreferTiled)
                _kernels.Conv.ForwardTiled(Output.View, input.View, _weight, _bias, _shape, fuseRelu: true);
            else
                _kernels.Conv.Forward(Output.View, input.View, _weight, _bias, _shape, fuseRelu: true);
        }

        public override void RecordBackward(Tape tape, VggNetwork network, int index)
        {
            // The input gradient is a convolution with C output channels: conv1_1's has 3, where a
            // 64-channel tile would mostly idle (Conv2d.TiledPays), so it takes the plain path.
            if (_kernels.PreferTiled && Conv2d.TiledPays(Conv2d.TransposedShape(_shape)))
            {
                _convBackward ??= _kernels.UseTf32
                    ? () => _kernels.Conv.BackwardInputTf32(network.InputGradient(index), network.OutputGradient(index), _transposed, Output.View, _shape)
                    : () => _kernels.Conv.BackwardInputTiled(network.InputGradient(index), network.OutputGradient(index), _transposed, Output.View, _shape);
                tape.Record($"{ReluName}+{_convName}", _convBackward);
                return;
            }

            // Built once: recording an existing delegate allocates nothing.
            _convBackward ??= () => _kernels.Conv.BackwardInput(network.InputGradient(index), network.OutputGradient(index), _weight, _shape,
                _kernels.PreferTiled ? KernelVariant.PerElement : KernelVariant.Auto);
            _reluBackward ??= () =>
            {
                var dOutput = network.OutputGradient(index);
                _kernels.Relu.Backward(dOutput, dOutput, Output.View); // in place: mask by y > 0
            };
            tape.Record(_convName, _convBackward);
            tape.Record(ReluName, _reluBackward);
        }
    }

    /// <summary>pool{b}: 2x2/stride 2, max (with argmax for backward) or average.</summary>
    private sealed class PoolLayer : Layer
    {
        private readonly KernelSet _kernels;
        private readonly ChwShape _inputShape;
        private readonly Pooling _pooling;
        private readonly ArrayView<int> _argmax;
        private readonly string _name;
        private Action? _backward;

        public PoolLayer(string name, ChwShape input, Pooling pooling, KernelSet kernels, DeviceMemory memory)
        {
            _name = name;
            _kernels = kernels;
            _inputShape = input;
            _pooling = pooling;
            var outputShape = MaxPool2d.OutputShape(input);
            Output = memory.Tensor(outputShape);
            _argmax = pooling == Pooling.Max ? memory.Ints(outputShape.Length).View : default;
        }

        public override DeviceTensor Output { get; }

        public override IEnumerable<string> Names => [_name];

        public override void Forward(DeviceTensor input)
        {
            if (_pooling == Pooling.Max)
                _kernels.MaxPool.Forward(Output.View, _argmax, input.View, _inputShape);
            else
                _kernels.AvgPool.Forward(Output.View, input.View, _inputShape);
        }

        public override void RecordBackward(Tape tape, VggNetwork network, int index)
        {
            _backward ??= () =>
            {
                if (_pooling == Pooling.Max)
                    _kernels.MaxPool.Backward(network.InputGradient(index), network.OutputGradient(index), _argmax, _inputShape);
                else
                    _kernels.AvgPool.Backward(network.InputGradient(index), network.OutputGradient(index), _inputShape);
            };
            tape.Record(_name, _backward);
        }
    }
}
