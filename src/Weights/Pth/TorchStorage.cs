using System.Buffers.Binary;

namespace IlgpuStyle.Weights.Pth;

/// <summary>
/// A torch storage type named by a pickle global such as <c>torch.FloatStorage</c>: its element size
/// and how one element becomes a float. Integer storages are recognised (a state dict may hold e.g.
/// BatchNorm's <c>num_batches_tracked</c>) but their tensors cannot be read as weights.
/// </summary>
internal sealed record StorageType(string Name, int ElementSize, bool IsFloat)
{
    private static readonly Dictionary<string, StorageType> Known = new[]
    {
        new StorageType("FloatStorage", 4, true),
        new StorageType("HalfStorage", 2, true),
        new StorageType("DoubleStorage", 8, true),
        new StorageType("BFloat16Storage", 2, true),
        new StorageType("LongStorage", 8, false),
        new StorageType("IntStorage", 4, false),
        new StorageType("ShortStorage", 2, false),
        new StorageType("CharStorage", 1, false),
        new StorageType("ByteStorage", 1, false),
        new StorageType("BoolStorage", 1, false),
    }.ToDictionary(t => t.Name, StringComparer.Ordinal);

    public static StorageType? Find(string name) => Known.GetValueOrDefault(name);

    /// <summary>Widens (half, bfloat16) or narrows (double) little-endian elements to float32.</summary>
    public void Decode(ReadOnlySpan<byte> raw, Span<float> values)
    {
        switch (Name)
        {
            case "FloatStorage":
                for (int i = 0; i < values.Length; i++)
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]);
                break;
            case "HalfStorage":
                for (int i = 0; i < values.Length; i++)
                    values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(raw[(2 * i)..]);
                break;
            case "DoubleStorage":
                for (int i = 0; i < values.Length; i++)
                    values[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(raw[(8 * i)..]);
                break;
            case "BFloat16Storage":
                // bfloat16 is the top half of a float32.
                for (int i = 0; i < values.Length; i++)
                    values[i] = BitConverter.Int32BitsToSingle(
                        BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]) << 16);
                break;
            default:
                throw new SourceFormatException($"{Name} holds integers, not weights");
        }
    }
}

/// <summary>
/// A storage named by a persistent id. <see cref="Key"/> locates its bytes (a record in a legacy
/// file, an entry <c>data/{key}</c> in a zip file); a legacy view starts <see cref="ElementOffset"/>
/// elements into its root storage.
/// </summary>
internal sealed record StorageRef(string Key, StorageType Type, long ElementCount, long ElementOffset);

/// <summary>
/// What <c>_rebuild_tensor_v2(storage, storage_offset, size, stride, ...)</c> describes: a strided view of a storage.
/// </summary>
internal sealed record TensorRef(StorageRef Storage, long Offset, int[] Size, long[] Stride)
{
    /// <summary>
    /// Gathers the view's elements into a dense row-major array. <paramref name="readElements"/>
    /// returns the raw bytes of storage elements [first, first+count), so only the span this tensor
    /// touches is read. Non-contiguous strides (e.g. a transposed tensor) and offsets are honoured.
    /// </summary>
    public float[] Read(string key, Func<StorageRef, long, long, byte[]> readElements)
    {
        long count = 1;
        long last = Offset; // highest element index the view touches
        for (int d = 0; d < Size.Length; d++)
        {
            if (Size[d] < 0 || Stride[d] < 0)
                throw new SourceFormatException($"tensor {key} has a negative size or stride");
            count = checked(count * Size[d]);
            if (Size[d] > 0)
                last += (Size[d] - 1) * Stride[d];
        }
        if (count == 0)
            return [];
        if (count > Array.MaxLength)
            throw new SourceFormatException($"tensor {key} is too large");
        if (Offset < 0 || last >= Storage.ElementCount)
            throw new SourceFormatException(
                $"tensor {key} reaches element {last} of storage '{Storage.Key}', which has {Storage.ElementCount}");

        long span = last - Offset + 1;
        if (span > Array.MaxLength / Storage.Type.ElementSize)
            throw new SourceFormatException($"tensor {key} spans too much of its storage");
        byte[] raw = readElements(Storage, Offset, span);
        var window = new float[span];
        Storage.Type.Decode(raw, window);

        var values = new float[count];
        var index = new int[Size.Length];
        for (long i = 0; i < count; i++)
        {
            long at = 0;
            for (int d = 0; d < Size.Length; d++)
                at += index[d] * Stride[d];
            values[i] = window[at];
            // Advance the multi-index like an odometer, last dimension fastest (row-major output).
            for (int d = Size.Length - 1; d >= 0; d--)
            {
                if (++index[d] < Size[d])
                    break;
                index[d] = 0;
            }
        }
        return values;
    }
}
