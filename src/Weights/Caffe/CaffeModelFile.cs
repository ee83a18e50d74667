using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Weights.Caffe;

/// <summary>
/// Reads the convolution layers of a Caffe <c>.caffemodel</c>, a protobuf <c>NetParameter</c>
/// (field numbers from caffe.proto, SPEC.md "Sources the converter reads"):
/// <list type="bullet">
/// <item>V1 layers, field 2 (<c>V1LayerParameter</c>): name 4, type 5 (enum, 4 = CONVOLUTION), blobs 6.</item>
/// <item>V2 layers, field 100 (<c>LayerParameter</c>): name 1, type 2 ("Convolution"), blobs 7.</item>
/// <item><c>BlobProto</c>: num 1, channels 2, height 3, width 4 (old-style dims), data 5 (float, packed
/// or not), shape 7 (<c>BlobShape</c>, dim 1: int64, packed or not), double_data 8.</item>
/// </list>
/// Each convolution layer becomes tensors <c>{name}.weight</c> (blob 0, K x C x kH x kW) and
/// <c>{name}.bias</c> (blob 1, K). Other layers are skipped.
/// </summary>
internal static class CaffeModelFile
{
    private const int NetLayersV1 = 2;
    private const int NetLayersV2 = 100;
    private const int V1ConvolutionType = 4;

    /// <summary>
    /// Whether the first bytes could begin a <c>NetParameter</c>: a tag of one of its fields
    /// (1 name ... 8 input_shape, 100 layer) with that field's wire type.
    /// </summary>
    public static bool LooksLikeNetParameter(ReadOnlySpan<byte> head)
    {
        if (head.Length == 0)
            return false;
        // Fields 1-8 have one-byte tags; field 100 with wire type 2 is the varint 0xA2 0x06.
        if (head.Length >= 2 && head[0] == 0xA2 && head[1] == 0x06)
            return true;
        int field = head[0] >> 3;
        int wireType = head[0] & 7;
        return field switch
        {
            1 or 2 or 3 or 6 or 8 => wireType == 2, // name, layers, input, state, input_shape
            4 => wireType is 0 or 2,               // input_dim (int32, maybe packed)
            5 or 7 => wireType == 0,               // force_backward, debug_info
            _ => false,
        };
    }

    public static WeightSource Open(string path)
    {
        byte[] data = File.ReadAllBytes(path);
        var tensors = new List<SourceTensor>();
        var reader = new ProtoReader(data, 0, data.Length);
        bool sawV1 = false, sawV2 = false;
        while (reader.TryReadTag(out int field, out int wireType))
        {
            if ((field == NetLayersV1 || field == NetLayersV2) && wireType == 2)
            {
                var layer = reader.ReadMessage();
                bool v1 = field == NetLayersV1;
                sawV1 |= v1;
                sawV2 |= !v1;
                ReadLayer(layer, v1, tensors);
            }
            else
            {
                reader.Skip(wireType);
            }
        }

        string format = (sawV1, sawV2) switch
        {
            (true, true) => "Caffe .caffemodel (V1 and V2 layers)",
            (true, false) => "Caffe .caffemodel (V1 layers)",
            _ => "Caffe .caffemodel (V2 layers)",
        };
        // The whole file was parsed above, so a cut-off file has already failed.
        return new WeightSource(SourceKind.Caffe, format, tensors, () => { });
    }

    private static void ReadLayer(ProtoReader layer, bool v1, List<SourceTensor> tensors)
    {
        int nameField = v1 ? 4 : 1;
        int typeField = v1 ? 5 : 2;
        int blobsField = v1 ? 6 : 7;
        string name = "";
        bool isConvolution = false;
        var blobs = new List<ProtoReader>();
        while (layer.TryReadTag(out int field, out int wireType))
        {
            if (field == nameField && wireType == 2)
                name = layer.ReadString();
            else if (field == typeField && v1 && wireType == 0)
                isConvolution = layer.ReadVarint() == V1ConvolutionType;
            else if (field == typeField && !v1 && wireType == 2)
                isConvolution = layer.ReadString() == "Convolution";
            else if (field == blobsField && wireType == 2)
                blobs.Add(layer.ReadMessage());
            else
                layer.Skip(wireType);
        }

        if (!isConvolution)
            return;
        if (blobs.Count != 2)
            throw new SourceFormatException(
                $"convolution layer '{name}' has {blobs.Count} blobs; expected weight and bias");
        var (weightShape, weight) = ReadBlob(blobs[0], name + ".weight");
        var (_, bias) = ReadBlob(blobs[1], name + ".bias");
        if (weightShape.Length != 4)
        {
            throw new SourceFormatException(
                $"convolution layer '{name}' weight has shape {NamedTensor.FormatShape(weightShape)}, not 4-D");
        }
        tensors.Add(new SourceTensor(name + ".weight", weightShape, "float", () => weight));
        // Old-style blobs store a bias as 1 x 1 x 1 x K; it is a vector of K.
        tensors.Add(new SourceTensor(name + ".bias", [bias.Length], "float", () => bias));
    }

    private static (int[] Shape, float[] Data) ReadBlob(ProtoReader blob, string key)
    {
        var legacyDims = new int[4]; // num, channels, height, width
        var shape = new List<int>();
        bool hasShape = false;
        var values = new List<float>();
        while (blob.TryReadTag(out int field, out int wireType))
        {
            switch (field, wireType)
            {
                case (>= 1 and <= 4, 0):
                    legacyDims[field - 1] = checked((int)blob.ReadVarint());
                    break;
                case (5, 2): // packed floats
                    {
                        var packed = blob.ReadMessage();
                        var bytes = packed.Remaining;
                        if (bytes.Length % 4 != 0)
                            throw new SourceFormatException(
                                $"blob {key} has a packed float array of {bytes.Length} bytes");
                        for (int i = 0; i < bytes.Length; i += 4)
                            values.Add(System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes[i..]));
                        break;
                    }
                case (5, 5): // one unpacked float
                    values.Add(blob.ReadFixedFloat());
                    break;
                case (8, 2): // packed doubles
                    {
                        var packed = blob.ReadMessage();
                        while (!packed.AtEnd)
                            values.Add((float)packed.ReadFixedDouble());
                        break;
                    }
                case (8, 1):
                    values.Add((float)blob.ReadFixedDouble());
                    break;
                case (7, 2):
                    hasShape = true;
                    ReadShape(blob.ReadMessage(), shape, key);
                    break;
                default:
                    blob.Skip(wireType);
                    break;
            }
        }

        int[] dims = hasShape ? shape.ToArray() : legacyDims;
        long count = 1;
        foreach (int d in dims)
            count *= d;
        if (count != values.Count)
        {
            throw new SourceFormatException(
                $"blob {key} has shape {NamedTensor.FormatShape(dims)} but {values.Count} values");
        }
        return (dims, values.ToArray());
    }

    private static void ReadShape(ProtoReader shape, List<int> dims, string key)
    {
        while (shape.TryReadTag(out int field, out int wireType))
        {
            if (field == 1 && wireType == 0)
            {
                dims.Add(Dim(shape.ReadVarint(), key));
            }
            else if (field == 1 && wireType == 2)
            {
                var packed = shape.ReadMessage();
                while (!packed.AtEnd)
                    dims.Add(Dim(packed.ReadVarint(), key));
            }
            else
            {
                shape.Skip(wireType);
            }
        }
    }

    private static int Dim(ulong value, string key) =>
        value <= int.MaxValue ? (int)value : throw new SourceFormatException(
            $"blob {key} has a dimension of {(long)value}");
}
