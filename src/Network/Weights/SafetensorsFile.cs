using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace IlgpuStyle.Network.Weights;

/// <summary>
/// What a safetensors file holds: its <c>__metadata__</c> strings and its tensors, widened to float32.
/// </summary>
/// <param name="Metadata">The <c>__metadata__</c> object (empty when the file has none).</param>
/// <param name="Tensors">The tensors in the order their data appears in the file.</param>
public sealed record SafetensorsContents(IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyList<NamedTensor> Tensors);

/// <summary>
/// Reads and writes the safetensors format (SPEC.md, "Weights file"): an 8-byte little-endian
/// header length N, N bytes of UTF-8 JSON, then the raw little-endian tensor bytes. The JSON maps
/// each tensor name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c>, offsets relative to
/// the first byte after the header. This is the project's only implementation of the format: the
/// converter writes with it and the network loads with it.
/// </summary>
public static class SafetensorsFile
{
    /// <summary>Largest header accepted. Real headers are a few kB; the bound stops a corrupt length
    /// field from making us allocate gigabytes before we notice the file is bad.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    /// <summary>
    /// Writes <paramref name="tensors"/> as F32 with <paramref name="metadata"/> in <c>__metadata__</c>.
    /// The file appears atomically: data goes to a temporary file in the same folder, which is
    /// renamed over <paramref name="path"/> only when complete, so a failure never leaves a partial file.
    /// </summary>
    public static void Write(string path, IReadOnlyList<NamedTensor> tensors,
        IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (t.Name == "__metadata__" || !names.Add(t.Name))
                throw new ArgumentException($"tensor name {t.Name} is reserved or repeated.", nameof(tensors));
        }

        byte[] header = BuildHeader(tensors, metadata);
        string fullPath = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(fullPath) ?? ".";
        Directory.CreateDirectory(folder);
        string temp = Path.Combine(folder,
            $".{Path.GetFileName(fullPath)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Span<byte> lengthBytes = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)header.Length);
                stream.Write(lengthBytes);
                stream.Write(header);
                byte[] buffer = new byte[1 << 16];
                foreach (var t in tensors)
                    WriteFloats(stream, t.Data, buffer);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Reads a whole safetensors file, validating the header first: its length is within the file
    /// and <see cref="MaxHeaderBytes"/>, it is a JSON object, every dtype is F32 or F16 (F16 is
    /// widened), every shape matches its byte count, every range lies inside the data section, and
    /// no two ranges overlap. Throws <see cref="WeightsFormatException"/> with a one-line message.
    /// </summary>
    public static SafetensorsContents Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string name = path;
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new WeightsFormatException($"{path}: cannot open: {e.Message}", e);
        }

        using (stream)
        {
            long fileLength = stream.Length;
            if (fileLength < 8)
                throw new WeightsFormatException(
                    $"{name}: not a safetensors file: {fileLength} bytes is too short for the 8-byte header length.");
            Span<byte> lengthBytes = stackalloc byte[8];
            stream.ReadExactly(lengthBytes);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (headerLength < 2 || headerLength > (ulong)MaxHeaderBytes || headerLength > (ulong)(fileLength - 8))
                throw new WeightsFormatException(
                    $"{name}: header length {headerLength} is impossible for a file of {fileLength} bytes " +
                    "(not safetensors, or truncated).");

            byte[] header = new byte[(int)headerLength];
            stream.ReadExactly(header);
            long dataStart = 8 + (long)headerLength;
            long dataLength = fileLength - dataStart;
            var (metadata, entries) = ParseHeader(name, header, dataLength);

            var tensors = new List<NamedTensor>(entries.Count);
            foreach (var e in entries)
            {
                stream.Position = dataStart + e.Begin;
                tensors.Add(new NamedTensor(e.Name, e.Shape, ReadValues(stream, e)));
            }
            return new SafetensorsContents(metadata, tensors);
        }
    }

    private sealed record Entry(string Name, string Dtype, int[] Shape, long Begin, long End);

    private static (Dictionary<string, string> Metadata, List<Entry> Entries) ParseHeader(string name,
        byte[] header, long dataLength)
    {
        JsonDocument doc;
        try
        {
            // Strict UTF-8 decoding first: JsonDocument would otherwise accept some malformed bytes in strings.
            _ = new UTF8Encoding(false, true).GetString(header);
            doc = JsonDocument.Parse(header);
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            throw new WeightsFormatException($"{name}: header is not valid UTF-8 JSON: {OneLine(e.Message)}", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new WeightsFormatException($"{name}: header is JSON but not an object.");

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<Entry>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                // JSON allows repeated keys and JsonDocument keeps them all; two entries with one
                // name would make "which tensor is conv1_1.weight?" ambiguous.
                if (!seen.Add(property.Name))
                    throw new WeightsFormatException($"{name}: header names '{property.Name}' twice.");
                if (property.Name == "__metadata__")
                    ReadMetadata(name, property.Value, metadata);
                else
                    entries.Add(ReadEntry(name, property.Name, property.Value, dataLength));
            }

            entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
            for (int i = 1; i < entries.Count; i++)
            {
                var (previous, current) = (entries[i - 1], entries[i]);
                if (current.Begin < previous.End)
                    throw new WeightsFormatException(
                        $"{name}: tensors '{previous.Name}' and '{current.Name}' overlap " +
                        $"(bytes {previous.Begin}-{previous.End} and {current.Begin}-{current.End}).");
            }
            return (metadata, entries);
        }
    }

    private static void ReadMetadata(string name, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new WeightsFormatException($"{name}: __metadata__ must be an object of strings.");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new WeightsFormatException($"{name}: __metadata__ value '{item.Name}' is not a string.");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw new WeightsFormatException($"{name}: __metadata__ names '{item.Name}' twice.");
        }
    }

    private static Entry ReadEntry(string name, string tensor, JsonElement value, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new WeightsFormatException($"{name}: entry '{tensor}' is not an object.");
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new WeightsFormatException($"{name}: tensor '{tensor}' has no dtype.");
        string dtype = dtypeElement.GetString()!;
        int elementSize = dtype switch
        {
            "F32" => 4,
            "F16" => 2,
            _ => throw new WeightsFormatException(
                $"{name}: tensor '{tensor}' has dtype {dtype}; only F32 and F16 are supported."),
        };

        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new WeightsFormatException($"{name}: tensor '{tensor}' has no shape array.");
        var shape = new List<int>();
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int dim) || dim < 0)
                throw new WeightsFormatException(
                    $"{name}: tensor '{tensor}' has a shape entry that is not a non-negative 32-bit integer.");
            shape.Add(dim);
        }

        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array
            || offsets.GetArrayLength() != 2)
            throw new WeightsFormatException($"{name}: tensor '{tensor}' has no [begin, end] data_offsets.");
        if (!offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end)
            || begin < 0 || end < begin)
            throw new WeightsFormatException($"{name}: tensor '{tensor}' has invalid data_offsets.");
        if (end > dataLength)
            throw new WeightsFormatException(
                $"{name}: tensor '{tensor}' data_offsets [{begin}, {end}] " +
                $"point outside the {dataLength}-byte data section (truncated or corrupt file).");

        long count;
        try
        {
            count = NamedTensor.ElementCount(shape);
        }
        catch (OverflowException)
        {
            throw new WeightsFormatException(
                $"{name}: tensor '{tensor}' shape {NamedTensor.FormatShape(shape)} is too large.");
        }
        if (count * elementSize != end - begin)
            throw new WeightsFormatException(
                $"{name}: tensor '{tensor}' shape {NamedTensor.FormatShape(shape)} " +
                $"needs {count * elementSize} bytes of {dtype} but data_offsets span {end - begin}.");
        if (count > Array.MaxLength)
            throw new WeightsFormatException(
                $"{name}: tensor '{tensor}' has {count} elements, more than one array can hold.");
        return new Entry(tensor, dtype, shape.ToArray(), begin, end);
    }

    /// <summary>One tensor's values from <paramref name="stream"/>, at its start.</summary>
    private static float[] ReadValues(Stream stream, Entry e)
    {
        long bytes = e.End - e.Begin;
        if (e.Dtype == "F32" && BitConverter.IsLittleEndian)
        {
            // The file's bytes are the floats' own: read straight into the array, rather than into a second array of
            // every tensor (VGG-19's 80 MB, written into fresh memory) and decoded from there value by value.
            var values = new float[bytes / 4];
            stream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
            return values;
        }
        byte[] raw = new byte[bytes];
        stream.ReadExactly(raw);
        return Decode(raw, e.Dtype);
    }

    private static float[] Decode(byte[] raw, string dtype)
    {
        if (dtype == "F32")
        {
            var values = new float[raw.Length / 4];
            for (int i = 0; i < values.Length; i++)
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(4 * i));
            return values;
        }

        var widened = new float[raw.Length / 2];
        for (int i = 0; i < widened.Length; i++)
            widened[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(raw.AsSpan(2 * i));
        return widened;
    }

    private static byte[] BuildHeader(IReadOnlyList<NamedTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("__metadata__");
            foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
                writer.WriteString(key, value);
            writer.WriteEndObject();

            long offset = 0;
            foreach (var t in tensors)
            {
                long bytes = 4L * t.Data.Length;
                writer.WriteStartObject(t.Name);
                writer.WriteString("dtype", "F32");
                writer.WriteStartArray("shape");
                foreach (int d in t.Shape)
                    writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + bytes);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += bytes;
            }
            writer.WriteEndObject();
        }

        // Pad with spaces (valid JSON whitespace) so the data section starts 8-byte aligned,
        // which lets a reader map the floats in place.
        int length = (int)json.Length;
        int padded = (length + 8 + 7) / 8 * 8 - 8;
        byte[] header = new byte[padded];
        json.GetBuffer().AsSpan(0, length).CopyTo(header);
        header.AsSpan(length).Fill((byte)' ');
        return header;
    }

    private static void WriteFloats(Stream stream, float[] data, byte[] buffer)
    {
        int perChunk = buffer.Length / 4;
        for (int start = 0; start < data.Length; start += perChunk)
        {
            int n = Math.Min(perChunk, data.Length - start);
            for (int i = 0; i < n; i++)
                BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(4 * i), data[start + i]);
            stream.Write(buffer, 0, 4 * n);
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
