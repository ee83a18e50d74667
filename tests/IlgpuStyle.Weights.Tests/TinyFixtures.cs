using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Weights.Tests;

/// <summary>
/// One conv layer of a tiny test network: canonical name, torchvision feature index, weight (K, C, 3, 3) and bias (K).
/// </summary>
internal sealed record TinyLayer(string Name, int FeatureIndex, int[] WeightShape, float[] Weight, float[] Bias);

/// <summary>
/// A VGG with real layer structure and tiny channel counts, filled from a seeded generator, and
/// writers for every source format, built byte by byte from the format descriptions (not by the
/// code under test), so the readers are exercised without ../shared.
/// </summary>
internal sealed class TinyVgg
{
    public TinyVgg(VggArchitecture arch, int seed, int[] blockChannels)
    {
        Arch = arch;
        var random = new Random(seed);
        int c = 3;
        var layers = new List<TinyLayer>();
        for (int i = 0; i < arch.ConvNames.Count; i++)
        {
            string name = arch.ConvNames[i];
            int k = blockChannels[arch.Block(name) - 1];
            var w = new float[k * c * 9];
            for (int j = 0; j < w.Length; j++)
                w[j] = (float)(random.NextDouble() * 2 - 1);
            var b = new float[k];
            for (int j = 0; j < b.Length; j++)
                b[j] = (float)(random.NextDouble() * 0.2 - 0.1);
            layers.Add(new TinyLayer(name, arch.TorchvisionFeatureIndices[i], [k, c, 3, 3], w, b));
            c = k;
        }
        Layers = layers;
        Classifier = Enumerable.Range(0, 6).Select(i => (float)i).ToArray();
    }

    public VggArchitecture Arch { get; }

    public IReadOnlyList<TinyLayer> Layers { get; }

    /// <summary>A 2 x 3 "classifier.0.weight" that every converter must skip.</summary>
    public float[] Classifier { get; }

    public static TinyVgg Vgg16() => new(VggArchitecture.Vgg16, 7, [2, 3, 4, 4, 5]);

    public static TinyVgg Vgg19() => new(VggArchitecture.Vgg19, 11, [3, 2, 4, 5, 3]);

    /// <summary>Options for the .pth writers, to exercise the less common paths.</summary>
    public sealed record PthOptions
    {
        /// <summary>
        /// Store conv1_1.weight transposed as (C, K, 3, 3) after 5 junk elements, described by strides and an offset.
        /// </summary>
        public bool StridedFirstWeight { get; init; }

        /// <summary>Store conv1_1.bias as a HalfStorage (the reader must widen it).</summary>
        public bool HalfFirstBias { get; init; }

        /// <summary>Key naming: torchvision "features.{i}" or generic "{n}" in order.</summary>
        public bool GenericKeys { get; init; }

        /// <summary>A global the state dict has no business naming, e.g. ("os", "system").</summary>
        public (string Module, string Name)? ForeignGlobal { get; init; }
    }

    /// <summary>The values a reader must produce for conv1_1.bias under <paramref name="options"/>.</summary>
    public float[] ExpectedBias(TinyLayer layer, PthOptions options) =>
        options.HalfFirstBias && layer == Layers[0] ? layer.Bias.Select(v => (float)(Half)v).ToArray() : layer.Bias;

    private sealed record StorageBlob(string Key, string Type, byte[] Bytes, long Count);

    private sealed record TensorEntry(string Key, StorageBlob Storage, long Offset, int[] Size, long[] Stride);

    private List<TensorEntry> Entries(PthOptions options, Func<int, string> storageKey)
    {
        var entries = new List<TensorEntry>();
        int n = 0;
        for (int i = 0; i < Layers.Count; i++)
        {
            var layer = Layers[i];
            string prefix = options.GenericKeys ? $"{2 * i}" : $"features.{layer.FeatureIndex}";
            int[] s = layer.WeightShape;
            if (i == 0 && options.StridedFirstWeight)
            {
                // Physical layout (C, K, 3, 3) after 5 junk floats: element (k, c, y, x) sits at
                // 5 + ((c*K + k)*3 + y)*3 + x, so the logical strides are (9, 9K, 3, 1), offset 5.
                int k = s[0], c = s[1];
                var physical = new float[5 + layer.Weight.Length];
                for (int j = 0; j < 5; j++)
                    physical[j] = 1000 + j;
                for (int kk = 0; kk < k; kk++)
                    for (int cc = 0; cc < c; cc++)
                        for (int p = 0; p < 9; p++)
                            physical[5 + (cc * k + kk) * 9 + p] = layer.Weight[(kk * c + cc) * 9 + p];
                var blob = new StorageBlob(storageKey(n++), "FloatStorage", Floats(physical), physical.Length);
                entries.Add(new TensorEntry(prefix + ".weight", blob, 5, s, [9, 9 * k, 3, 1]));
            }
            else
            {
                var blob = new StorageBlob(storageKey(n++), "FloatStorage", Floats(layer.Weight), layer.Weight.Length);
                entries.Add(new TensorEntry(prefix + ".weight", blob, 0, s, [s[1] * 9, 9, 3, 1]));
            }

            var biasBlob = i == 0 && options.HalfFirstBias
                ? new StorageBlob(storageKey(n++), "HalfStorage", Halves(layer.Bias), layer.Bias.Length)
                : new StorageBlob(storageKey(n++), "FloatStorage", Floats(layer.Bias), layer.Bias.Length);
            entries.Add(new TensorEntry(prefix + ".bias", biasBlob, 0, [s[0]], [1]));
        }
        var cls = new StorageBlob(storageKey(n), "FloatStorage", Floats(Classifier), Classifier.Length);
        entries.Add(new TensorEntry(options.GenericKeys ? "classifier.weight" : "classifier.0.weight",
            cls, 0, [2, 3], [3, 1]));
        return entries;
    }

    /// <summary>
    /// The state dict pickle: OrderedDict of _rebuild_tensor_v2 calls whose storages are persistent ids.
    /// </summary>
    private static byte[] StateDictPickle(List<TensorEntry> entries, bool legacy, bool protocol4,
        (string Module, string Name)? foreign)
    {
        var p = new PickleWriter(protocol4 ? 4 : 2);
        p.Global("collections", "OrderedDict");
        p.Op(')').Op('R');
        p.Op('(');
        foreach (var e in entries)
        {
            p.Str(e.Key);
            p.Global("torch._utils", "_rebuild_tensor_v2");
            p.Op('(');
            p.Op('(').Str("storage").Global("torch", e.Storage.Type).Str(e.Storage.Key).Str("cpu").Int(e.Storage.Count);
            if (legacy)
                p.Op('N'); // view_metadata
            p.Op('t').Op('Q');
            p.Int(e.Offset);
            p.Op('(');
            foreach (int d in e.Size)
                p.Int(d);
            p.Op('t');
            p.Op('(');
            foreach (long d in e.Stride)
                p.Int(d);
            p.Op('t');
            p.Op(0x89); // requires_grad False
            p.Global("collections", "OrderedDict").Op(')').Op('R'); // backward hooks
            p.Op('t').Op('R');
        }
        if (foreign is { } f)
        {
            p.Str("evil");
            p.Global(f.Module, f.Name).Str("echo hi").Op(0x85).Op('R');
        }
        p.Op('u');
        // BUILD with a `_metadata` state, as torch's state_dict() OrderedDicts carry.
        p.Op('}').Str("_metadata").Op('}').Op('s').Op('b');
        return p.Stop();
    }

    /// <summary>
    /// A legacy (torch &lt; 1.6) file: magic, protocol 1001, sys_info, state dict, storage keys
    /// (listed in sorted-string order, which differs from layer order), then per key an int64 count and data.
    /// </summary>
    public byte[] LegacyPth(PthOptions? options = null)
    {
        options ??= new PthOptions();
        // Address-like keys whose string order is not layer order ("10..." sorts before "9...").
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        var entries = Entries(options, n => (n % 2 == 0 ? 94000000 + 13 * n : 100000000 + 7 * n).ToString(invariant));
        var file = new MemoryStream();
        var magic = new PickleWriter(2);
        magic.Op(0x8a).Raw([10]).Raw(Convert.FromHexString("6cfc9c46f9206aa85019")); // LONG1 0x1950a86a20f9469cfc6c
        file.Write(magic.Stop());
        file.Write(new PickleWriter(2).Int(1001).Stop());
        var sys = new PickleWriter(2);
        sys.Op('}').Op('(').Str("protocol_version").Int(1001).Str("little_endian").Op(0x88)
            .Str("type_sizes").Op('}').Op('(').Str("long").Int(4).Op('u').Op('u');
        file.Write(sys.Stop());
        file.Write(StateDictPickle(entries, legacy: true, protocol4: false, options.ForeignGlobal));

        var storages = entries.Select(e => e.Storage).DistinctBy(s => s.Key)
            .OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
        var keys = new PickleWriter(2);
        keys.Op(']').Op('(');
        foreach (var s in storages)
            keys.Str(s.Key);
        keys.Op('e');
        file.Write(keys.Stop());
        foreach (var s in storages)
        {
            file.Write(BitConverter.GetBytes(s.Count));
            file.Write(s.Bytes);
        }
        return file.ToArray();
    }

    /// <summary>
    /// A zip (torch &gt;= 1.6) file: {stem}/data.pkl (protocol 4 opcodes), {stem}/byteorder, {stem}/data/{key}.
    /// </summary>
    public byte[] ZipPth(PthOptions? options = null, string stem = "tiny")
    {
        options ??= new PthOptions();
        var entries = Entries(options, n => n.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var file = new MemoryStream();
        using (var zip = new ZipArchive(file, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, byte[] bytes, CompressionLevel level)
            {
                using var s = zip.CreateEntry($"{stem}/{name}", level).Open();
                s.Write(bytes);
            }
            Add("data.pkl", StateDictPickle(entries, legacy: false, protocol4: true, options.ForeignGlobal),
                CompressionLevel.NoCompression);
            Add("byteorder", "little"u8.ToArray(), CompressionLevel.NoCompression);
            foreach (var s in entries.Select(e => e.Storage).DistinctBy(s => s.Key))
                Add("data/" + s.Key, s.Bytes, CompressionLevel.NoCompression);
            Add("version", "3\n"u8.ToArray(), CompressionLevel.Optimal);
        }
        return file.ToArray();
    }

    /// <summary>
    /// A Caffe NetParameter. V1: layers field 2 with num/channels/height/width dims. V2: layers
    /// field 100 with BlobShape dims. <paramref name="packed"/> picks packed or one-by-one floats
    /// (and BlobShape dims). A ReLU and a pool between convs and an fc6 at the end are skipped.
    /// </summary>
    public byte[] CaffeModel(bool v2, bool packed)
    {
        var net = new ProtoWriter();
        net.String(1, "TinyVGG");
        int previousBlock = 1;
        foreach (var layer in Layers)
        {
            if (Arch.Block(layer.Name) != previousBlock)
            {
                net.Message(v2 ? 100 : 2, Layer(v2, VggArchitecture.PoolName(previousBlock),
                    v2 ? "Pooling" : null, 17, []));
                previousBlock = Arch.Block(layer.Name);
            }
            net.Message(v2 ? 100 : 2, Layer(v2, layer.Name, v2 ? "Convolution" : null, 4,
                [Blob(v2, packed, layer.WeightShape, layer.Weight),
                 Blob(v2, packed, [layer.Bias.Length], layer.Bias)]));
            net.Message(v2 ? 100 : 2, Layer(v2, Arch.ReluName(layer.Name), v2 ? "ReLU" : null, 18, []));
        }
        net.Message(v2 ? 100 : 2,
            Layer(v2, "fc6", v2 ? "InnerProduct" : null, 14, [Blob(v2, packed, [2, 3], Classifier)]));
        return net.ToArray();
    }

    private static byte[] Layer(bool v2, string name, string? type, int v1Type, byte[][] blobs)
    {
        var m = new ProtoWriter();
        if (v2)
        {
            m.String(1, name);
            m.String(2, type!);
            m.String(3, "bottom"); // a field the reader must skip
            foreach (var b in blobs)
                m.Message(7, b);
        }
        else
        {
            m.String(4, name);
            m.Varint(5, (ulong)v1Type);
            foreach (var b in blobs)
                m.Message(6, b);
        }
        return m.ToArray();
    }

    private static byte[] Blob(bool v2, bool packed, int[] shape, float[] data)
    {
        var m = new ProtoWriter();
        if (v2)
        {
            var s = new ProtoWriter();
            if (packed)
            {
                var dims = new ProtoWriter();
                foreach (int d in shape)
                    dims.RawVarint((ulong)d);
                s.Message(1, dims.ToArray());
            }
            else
            {
                foreach (int d in shape)
                    s.Varint(1, (ulong)d);
            }
            m.Message(7, s.ToArray());
        }
        else
        {
            // Old-style 4-D dims: a bias of K is 1 x 1 x 1 x K, a 2-D matrix 1 x 1 x R x C.
            int[] four = [.. Enumerable.Repeat(1, 4 - shape.Length), .. shape];
            for (int i = 0; i < 4; i++)
                m.Varint(i + 1, (ulong)four[i]);
        }
        if (packed)
        {
            m.Message(5, Floats(data));
        }
        else
        {
            foreach (float v in data)
                m.Fixed32(5, v);
        }
        return m.ToArray();
    }

    public static byte[] Floats(float[] values)
    {
        var bytes = new byte[4 * values.Length];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
        return bytes;
    }

    private static byte[] Halves(float[] values)
    {
        var bytes = new byte[2 * values.Length];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), (Half)values[i]);
        return bytes;
    }
}

/// <summary>Emits pickle opcodes (protocol 2, or 4 with SHORT_BINUNICODE, STACK_GLOBAL and MEMOIZE).</summary>
internal sealed class PickleWriter
{
    private readonly MemoryStream _out = new();
    private readonly int _protocol;

    public PickleWriter(int protocol)
    {
        _protocol = protocol;
        _out.WriteByte(0x80);
        _out.WriteByte((byte)protocol);
    }

    public PickleWriter Op(int opcode)
    {
        _out.WriteByte((byte)opcode);
        return this;
    }

    public PickleWriter Raw(byte[] bytes)
    {
        _out.Write(bytes);
        return this;
    }

    public PickleWriter Str(string s)
    {
        byte[] b = Encoding.UTF8.GetBytes(s);
        if (_protocol >= 4 && b.Length < 256)
        {
            Op(0x8c).Op(b.Length); // SHORT_BINUNICODE
            Raw(b);
            return Op(0x94); // MEMOIZE
        }
        Op('X').Raw(BitConverter.GetBytes(b.Length)).Raw(b);
        return Op('q').Op(0); // BINPUT 0 (overwritten often; never read back)
    }

    public PickleWriter Int(long v)
    {
        if (v is >= 0 and < 256)
            return Op('K').Op((int)v);
        if (v is >= 0 and < 65536)
            return Op('M').Raw(BitConverter.GetBytes((ushort)v));
        return Op('J').Raw(BitConverter.GetBytes((int)v));
    }

    public PickleWriter Global(string module, string name)
    {
        if (_protocol >= 4)
            return Str(module).Str(name).Op(0x93); // STACK_GLOBAL
        return Op('c').Raw(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));
    }

    public byte[] Stop()
    {
        Op('.');
        return _out.ToArray();
    }
}

/// <summary>Emits protobuf wire format: tags, varints, fixed32 floats and length-delimited fields.</summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _out = new();

    public void RawVarint(ulong v)
    {
        while (v >= 0x80)
        {
            _out.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        _out.WriteByte((byte)v);
    }

    public void Varint(int field, ulong v)
    {
        RawVarint((ulong)field << 3);
        RawVarint(v);
    }

    public void Fixed32(int field, float v)
    {
        RawVarint(((ulong)field << 3) | 5);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(b, v);
        _out.Write(b);
    }

    public void Message(int field, byte[] bytes)
    {
        RawVarint(((ulong)field << 3) | 2);
        RawVarint((ulong)bytes.Length);
        _out.Write(bytes);
    }

    public void String(int field, string s) => Message(field, Encoding.UTF8.GetBytes(s));

    public byte[] ToArray() => _out.ToArray();
}
