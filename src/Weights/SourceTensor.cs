namespace IlgpuStyle.Weights;

/// <summary>Which family of file a tensor came from; decides key naming and the default preprocessing.</summary>
public enum SourceKind
{
    /// <summary>A PyTorch <c>.pth</c> state dict (legacy or zip): keys like <c>features.0.weight</c>.</summary>
    PyTorch,

    /// <summary>
    /// A Caffe <c>.caffemodel</c>: keys are <c>{layer}.weight</c> and <c>{layer}.bias</c> of its convolution layers.
    /// </summary>
    Caffe,
}

/// <summary>
/// A tensor listed in a source file. Its values are read only on demand, because a VGG file's
/// classifier (most of its 500 MB) is never needed.
/// </summary>
public sealed class SourceTensor
{
    private readonly Func<float[]> _read;

    internal SourceTensor(string key, int[] shape, string dtype, Func<float[]> read)
    {
        Key = key;
        Shape = shape;
        Dtype = dtype;
        _read = read;
    }

    /// <summary>The name in the source file, e.g. <c>features.0.weight</c> or <c>conv1_1.weight</c>.</summary>
    public string Key { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The source element type, e.g. <c>FloatStorage</c>, <c>HalfStorage</c> or <c>float</c>.</summary>
    public string Dtype { get; }

    /// <summary>
    /// Reads the values as float32 in row-major order (strides and offsets resolved, halves widened).
    /// </summary>
    public float[] ReadData() => _read();
}

/// <summary>
/// An opened source file: its format, its tensors in file order, and a check that all data is present.
/// </summary>
public sealed class WeightSource
{
    private readonly Action _checkData;

    internal WeightSource(SourceKind kind, string format, IReadOnlyList<SourceTensor> tensors, Action checkData)
    {
        Kind = kind;
        Format = format;
        Tensors = tensors;
        _checkData = checkData;
    }

    /// <summary>PyTorch or Caffe.</summary>
    public SourceKind Kind { get; }

    /// <summary>A human-readable format name, e.g. "PyTorch legacy .pth".</summary>
    public string Format { get; }

    /// <summary>Every tensor the file declares, in file order.</summary>
    public IReadOnlyList<SourceTensor> Tensors { get; }

    /// <summary>Throws a "truncated" error if any tensor's data lies beyond the end of the file.</summary>
    internal void CheckDataPresent() => _checkData();
}
