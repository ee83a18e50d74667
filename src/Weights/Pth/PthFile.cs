using System.IO.Compression;
using System.Numerics;

namespace IlgpuStyle.Weights.Pth;

/// <summary>
/// Reads a PyTorch state dict (<c>torch.save(model.state_dict())</c>) in either on-disk format
/// (SPEC.md, "Sources the converter reads"):
/// <list type="bullet">
/// <item>zip (torch &gt;= 1.6): <c>{stem}/data.pkl</c> is the pickle; storage <c>k</c> is the entry
/// <c>{stem}/data/k</c>.</item>
/// <item>legacy (torch &lt; 1.6): five pickles in a row (magic number, protocol 1001, sys_info, the
/// state dict, the list of storage keys), then for each key in that list an int64 element count and
/// the raw little-endian elements.</item>
/// </list>
/// In both, tensors appear in the pickle as <c>_rebuild_tensor_v2(storage, offset, size, stride, ...)</c>
/// where <c>storage</c> is a persistent id naming the storage's type and key.
/// </summary>
internal static class PthFile
{
    /// <summary>The number torch's legacy format pickles first, to say "this is a torch file".</summary>
    private static readonly BigInteger LegacyMagic = BigInteger.Parse(
        "119547037146038801333356", System.Globalization.CultureInfo.InvariantCulture);

    private const long LegacyProtocol = 1001;

    /// <summary>Callables a state dict's pickle may name; see <see cref="ResolveGlobal"/>.</summary>
    private sealed record TorchCallable(string Name);

    public static WeightSource OpenZip(string path)
    {
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException e)
        {
            throw new SourceFormatException($"truncated or corrupt zip archive ({e.Message.ReplaceLineEndings(" ")})");
        }

        Dictionary<string, StorageRef> storages;
        List<(string Key, TensorRef Tensor)> tensors;
        string prefix;
        using (zip)
        {
            var pickleEntry = zip.Entries.FirstOrDefault(e =>
                    e.FullName == "data.pkl" || e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal))
                ?? throw new SourceFormatException("zip archive without a data.pkl entry (not a torch.save file)");
            prefix = pickleEntry.FullName[..^"data.pkl".Length];
            var byteOrder = zip.GetEntry(prefix + "byteorder");
            if (byteOrder != null)
            {
                using var reader = new StreamReader(byteOrder.Open());
                if (reader.ReadToEnd().Trim() != "little")
                    throw new SourceFormatException(
                        "saved on a big-endian machine; only little-endian files are supported");
            }

            if (pickleEntry.Length > 256L * 1024 * 1024)
                throw new SourceFormatException(
                    $"data.pkl is {pickleEntry.Length} bytes, far more than a state dict needs");
            var pickle = new MemoryStream();
            try
            {
                using (var s = pickleEntry.Open())
                    s.CopyTo(pickle);
            }
            catch (InvalidDataException e)
            {
                throw new SourceFormatException($"corrupt data.pkl entry ({e.Message.ReplaceLineEndings(" ")})");
            }
            pickle.Position = 0;
            storages = [];
            var root = RunPickle(pickle, storages);
            tensors = Flatten(root);
        }

        // Each storage is its own entry; its length is known from the zip directory.
        byte[] ReadElements(StorageRef storage, long first, long count)
        {
            using var archive = ZipFile.OpenRead(path);
            var entry = archive.GetEntry(prefix + "data/" + storage.Key)
                ?? throw new SourceFormatException($"storage '{storage.Key}' has no entry data/{storage.Key}");
            long size = storage.Type.ElementSize;
            long start = (storage.ElementOffset + first) * size;
            long length = count * size;
            if (start + length > entry.Length)
                throw new SourceFormatException($"truncated: entry data/{storage.Key} has {entry.Length} bytes but " +
                                                $"its tensors need {start + length}");
            using var stream = entry.Open();
            SkipBytes(stream, start);
            var bytes = new byte[length];
            stream.ReadExactly(bytes);
            return bytes;
        }

        void CheckData()
        {
            using var archive = ZipFile.OpenRead(path);
            foreach (var storage in storages.Values)
            {
                var entry = archive.GetEntry(prefix + "data/" + storage.Key)
                    ?? throw new SourceFormatException(
                        $"truncated: storage '{storage.Key}' has no entry data/{storage.Key}");
                long needed = (storage.ElementOffset + storage.ElementCount) * storage.Type.ElementSize;
                if (entry.Length < needed)
                    throw new SourceFormatException($"truncated: entry data/{storage.Key} has {entry.Length} bytes " +
                                                    $"of the {needed} its storage needs");
            }
        }

        return new WeightSource(SourceKind.PyTorch, "PyTorch zip .pth", MakeTensors(tensors, ReadElements), CheckData);
    }

    public static WeightSource OpenLegacy(string path)
    {
        var storages = new Dictionary<string, StorageRef>(StringComparer.Ordinal);
        List<(string Key, TensorRef Tensor)> tensors;
        List<string> keys;
        long dataStart;
        long fileLength;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            fileLength = stream.Length;
            var noStorages = new Dictionary<string, StorageRef>();
            if (RunPickle(stream, noStorages) is not BigInteger magic || magic != LegacyMagic)
                throw new SourceFormatException("a Python pickle, but not a PyTorch file (no torch magic number)");
            if (RunPickle(stream, noStorages) is not long protocol || protocol != LegacyProtocol)
                throw new SourceFormatException($"unsupported legacy torch protocol (expected {LegacyProtocol})");
            if (RunPickle(stream, noStorages) is not PickleDict sysInfo)
                throw new SourceFormatException("legacy torch file without sys_info");
            if (sysInfo.Get("little_endian") is false)
                throw new SourceFormatException(
                    "saved on a big-endian machine; only little-endian files are supported");

            tensors = Flatten(RunPickle(stream, storages));
            if (RunPickle(stream, noStorages) is not List<object?> keyList || keyList.Any(k => k is not string))
                throw new SourceFormatException("legacy torch file without its list of storage keys");
            keys = keyList.Cast<string>().ToList();
            dataStart = stream.Position;
        }

        // The records follow in the order of the key list (torch sorts the keys as strings, which is
        // not layer order), each an int64 element count and then the elements. Finding one record
        // means walking over all records before it; the walk is done once.
        Dictionary<string, long>? recordStarts = null;
        Dictionary<string, long> Locate()
        {
            if (recordStarts != null)
                return recordStarts;
            var starts = new Dictionary<string, long>(StringComparer.Ordinal);
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            long at = dataStart;
            Span<byte> countBytes = stackalloc byte[8];
            for (int i = 0; i < keys.Count; i++)
            {
                string key = keys[i];
                if (!storages.TryGetValue(key, out var storage))
                    throw new SourceFormatException($"storage key '{key}' is listed but no tensor uses it");
                if (at + 8 > fileLength)
                    throw new SourceFormatException($"truncated: storage {i + 1} of {keys.Count} ('{key}') starts at " +
                                                    $"byte {at} but the file ends at byte {fileLength}");
                stream.Position = at;
                stream.ReadExactly(countBytes);
                long count = BitConverter.ToInt64(countBytes);
                long end = at + 8 + count * storage.Type.ElementSize;
                if (count < 0 || count < storage.ElementOffset + storage.ElementCount)
                    throw new SourceFormatException($"storage '{key}' holds {count} elements but its tensors need " +
                                                    $"{storage.ElementOffset + storage.ElementCount}");
                if (end > fileLength)
                    throw new SourceFormatException($"truncated: storage {i + 1} of {keys.Count} ('{key}') needs " +
                                                    $"bytes {at + 8} to {end} but the file ends at byte {fileLength}");
                starts[key] = at + 8;
                at = end;
            }
            foreach (var key in storages.Keys)
            {
                if (!starts.ContainsKey(key))
                    throw new SourceFormatException(
                        $"storage '{key}' is used by a tensor but missing from the key list");
            }
            recordStarts = starts;
            return starts;
        }

        byte[] ReadElements(StorageRef storage, long first, long count)
        {
            long start = Locate()[storage.Key] + (storage.ElementOffset + first) * storage.Type.ElementSize;
            var bytes = new byte[count * storage.Type.ElementSize];
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            stream.Position = start;
            stream.ReadExactly(bytes);
            return bytes;
        }

        return new WeightSource(
            SourceKind.PyTorch, "PyTorch legacy .pth", MakeTensors(tensors, ReadElements), () => Locate());
    }

    private static List<SourceTensor> MakeTensors(
        List<(string Key, TensorRef Tensor)> tensors, Func<StorageRef, long, long, byte[]> readElements) =>
        tensors.Select(t => new SourceTensor(t.Key, t.Tensor.Size, t.Tensor.Storage.Type.Name,
            () => t.Tensor.Read(t.Key, readElements))).ToList();

    /// <summary>
    /// Runs one pickle in which storages are persistent ids; every storage seen is recorded in
    /// <paramref name="storages"/>.
    /// </summary>
    private static object? RunPickle(Stream stream, Dictionary<string, StorageRef> storages)
    {
        object? PersistentLoad(object? pid)
        {
            // zip:    ('storage', storage_type, key, location, numel)
            // legacy: ('storage', storage_type, root_key, location, root_numel, view_metadata)
            //         where view_metadata is None or (view_key, offset, view_numel).
            if (pid is not object?[] id || id.Length < 5 || id[0] is not "storage" || id[1] is not StorageType type
                || id[2] is not string key || id[4] is not long numel)
                throw new SourceFormatException("pickle has a persistent id that is not a torch storage");
            var root = new StorageRef(key, type, numel, 0);
            if (storages.TryGetValue(key, out var known) && known != root)
                throw new SourceFormatException($"storage '{key}' is declared twice with different types or sizes");
            storages[key] = root;
            if (id.Length > 5 && id[5] is object?[] { Length: 3 } view && view[1] is long offset
                && view[2] is long viewNumel)
                return root with { ElementOffset = offset, ElementCount = viewNumel };
            return root;
        }

        return new PickleMachine(stream, ResolveGlobal, Call, PersistentLoad).Load();
    }

    /// <summary>
    /// The whole allow-list: a state dict needs an ordered dict, the functions torch pickles tensors
    /// as, and storage type names. Anything else (<c>os.system</c>, <c>builtins.eval</c>, a model
    /// class) is refused before it could be called.
    /// </summary>
    private static object ResolveGlobal(string module, string name)
    {
        switch (module, name)
        {
            case ("collections", "OrderedDict"):
            case ("torch._utils", "_rebuild_tensor_v2"):
            case ("torch._utils", "_rebuild_tensor"):
            case ("torch._utils", "_rebuild_parameter"):
                return new TorchCallable(name);
        }
        if (module == "torch" && StorageType.Find(name) is { } type)
            return type;
        throw new SourceFormatException($"refusing pickle global '{module}.{name}': a weights file may only name " +
                                        "OrderedDict, torch tensor rebuilders and storage types, and anything else " +
                                        "could run code");
    }

    private static object? Call(object callable, object?[] args)
    {
        switch (callable)
        {
            case TorchCallable { Name: "OrderedDict" }:
                var dict = new PickleDict();
                if (args.Length == 1 && args[0] is List<object?> pairs)
                {
                    foreach (var pair in pairs)
                    {
                        if (pair is not object?[] { Length: 2 } kv)
                            throw new SourceFormatException(
                                "OrderedDict built from something other than key-value pairs");
                        dict.Set(kv[0], kv[1]);
                    }
                }
                else if (args.Length != 0)
                {
                    throw new SourceFormatException("OrderedDict called with unexpected arguments");
                }
                return dict;

            case TorchCallable { Name: "_rebuild_tensor_v2" or "_rebuild_tensor" }:
                if (args.Length < 4 || args[0] is not StorageRef storage || args[1] is not long offset
                    || args[2] is not object?[] size || args[3] is not object?[] stride || size.Length != stride.Length)
                    throw new SourceFormatException("tensor rebuilt from unexpected arguments");
                return new TensorRef(storage, offset, size.Select(ToInt).ToArray(), stride.Select(ToLong).ToArray());

            case TorchCallable { Name: "_rebuild_parameter" }:
                // nn.Parameter(data, requires_grad, hooks): for reading weights it is its data.
                return args.Length >= 1 && args[0] is TensorRef tensor
                    ? tensor
                    : throw new SourceFormatException("parameter rebuilt from something other than a tensor");

            default:
                throw new SourceFormatException($"pickle calls {callable}, which is not a function");
        }
    }

    private static long ToLong(object? value) =>
        value as long? ?? throw new SourceFormatException("tensor size or stride that is not an integer");

    private static int ToInt(object? value)
    {
        long v = ToLong(value);
        return v is >= 0 and <= int.MaxValue ? (int)v : throw new SourceFormatException(
            $"tensor dimension {v} out of range");
    }

    /// <summary>
    /// The state dict's (key, tensor) pairs in order. A checkpoint that wraps the state dict
    /// (<c>{"state_dict": {...}}</c> or <c>{"model": {...}}</c>) is unwrapped one level.
    /// </summary>
    private static List<(string Key, TensorRef Tensor)> Flatten(object? root)
    {
        if (root is not PickleDict dict)
            throw new SourceFormatException("the pickle holds no state dict");
        var tensors = dict.Entries.Where(e => e.Key is string && e.Value is TensorRef)
            .Select(e => ((string)e.Key!, (TensorRef)e.Value!)).ToList();
        if (tensors.Count == 0 && (dict.Get("state_dict") ?? dict.Get("model")) is PickleDict inner)
            return Flatten(inner);
        return tensors;
    }

    private static void SkipBytes(Stream stream, long count)
    {
        if (stream.CanSeek)
        {
            stream.Seek(count, SeekOrigin.Current);
            return;
        }
        var buffer = new byte[81920];
        while (count > 0)
        {
            int n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
            if (n == 0)
                throw new SourceFormatException("truncated: zip entry ends early");
            count -= n;
        }
    }
}
