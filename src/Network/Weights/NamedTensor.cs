namespace IlgpuStyle.Network.Weights;

/// <summary>
/// A float32 tensor with a name and a row-major shape, as stored in a weights file.
/// Conv weights are <c>(K, C, kH, kW)</c> and biases <c>(K)</c> (SPEC.md, "Tensors and layout").
/// </summary>
public sealed class NamedTensor
{
    /// <summary>
    /// Creates a tensor; throws if <paramref name="data"/> does not hold exactly the shape's element count.
    /// </summary>
    public NamedTensor(string name, IReadOnlyList<int> shape, float[] data)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        long count = ElementCount(shape);
        if (count != data.Length)
            throw new ArgumentException(
                $"tensor {name} has shape {FormatShape(shape)} ({count} elements) but {data.Length} values.",
                nameof(data));
        Name = name;
        Shape = shape.ToArray();
        Data = data;
    }

    /// <summary>The tensor's name, e.g. <c>conv1_1.weight</c>.</summary>
    public string Name { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The values in row-major order (last dimension fastest).</summary>
    public float[] Data { get; }

    /// <summary>Product of the dimensions (1 for a scalar); throws on a negative dimension.</summary>
    public static long ElementCount(IReadOnlyList<int> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0)
                throw new ArgumentException($"negative dimension in shape {FormatShape(shape)}.", nameof(shape));
            count = checked(count * d);
        }
        return count;
    }

    /// <summary>
    /// Formats a shape the way the converter's table and error messages print it: <c>[4, 3, 3, 3]</c>.
    /// </summary>
    public static string FormatShape(IReadOnlyList<int> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        return "[" + string.Join(", ", shape) + "]";
    }
}
