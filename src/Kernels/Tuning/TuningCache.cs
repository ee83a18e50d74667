using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace IlgpuStyle.Kernels.Tuning;

/// <summary>
/// What a cached choice is only valid for: the device, its driver, this program's build and the precision asked.
/// Another driver or another build may time differently (or have other kernels), so its entries are stale.
/// </summary>
/// <param name="Device">The device's name, e.g. <c>NVIDIA H100 80GB HBM3</c>.</param>
/// <param name="Driver">The driver's version, e.g. <c>NVIDIA 550.54.15, CUDA 12.4</c>.</param>
/// <param name="Version">This program's version and the kernel library's build (its module id, which changes
/// whenever a kernel's code does).</param>
/// <param name="Precision"><c>fp32</c>, or <c>tf32</c> with <c>--tf32</c> (the candidates differ).</param>
public sealed record DeviceIdentity(string Device, string Driver, string Version, string Precision)
{
    /// <summary>The identity of <paramref name="accelerator"/> running <paramref name="choice"/>'s rule.</summary>
    public static DeviceIdentity Of(Accelerator accelerator, KernelChoice choice) =>
        new($"{accelerator.AcceleratorType} {accelerator.Name.Trim()}", DriverOf(accelerator), ProgramVersion,
            (choice.Tf32 ? "tf32" : "fp32") + (choice.TiledOnCpu ? ", tiled on the CPU" : ""));

    /// <summary>This program's version: the kernel library's informational version and module id.</summary>
    public static string ProgramVersion { get; } = VersionOf(typeof(KernelChoice).Assembly);

    private static string VersionOf(Assembly assembly)
    {
        string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                         ?? assembly.GetName().Version?.ToString() ?? "0";
        return $"{version} ({assembly.ManifestModule.ModuleVersionId:N})";
    }

    /// <summary>
    /// The driver's version string: for CUDA the NVIDIA kernel module's version where Linux shows it
    /// (<c>/proc/driver/nvidia/version</c>) and the CUDA driver API's; for OpenCL the platform's and the
    /// device's versions; for the CPU accelerator the .NET runtime's.
    /// </summary>
    private static string DriverOf(Accelerator accelerator) => accelerator switch
    {
        CudaAccelerator cuda => $"{NvidiaModule()}CUDA {cuda.DriverVersion}",
        CLAccelerator { Device: CLDevice device } =>
            $"{device.PlatformName.Trim()} {device.PlatformVersion}, device {device.DeviceVersion}",
        _ => $".NET {Environment.Version}",
    };

    private static string NvidiaModule()
    {
        try
        {
            const string file = "/proc/driver/nvidia/version";
            var match = File.Exists(file)
                ? Regex.Match(File.ReadAllText(file), @"Kernel Module\s+(?:for \S+\s+)?([0-9][0-9.]*)")
                : Match.Empty;
            return match.Success ? $"NVIDIA {match.Groups[1].Value}, " : "";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}

/// <summary>
/// The tuner's choices kept between runs: one JSON file (in the per-user data folder, beside the default weights),
/// an array of entries, each the device identity, the operation, the shape and the variant. An entry is used only
/// when every part of its key matches; anything else in the file (another device, a stale driver or build, an
/// unknown operation or variant, a malformed entry) is ignored, and a file that cannot be read or parsed is as
/// good as none. It is written whole to a temporary file beside it and moved over it, so a reader never sees half
/// a file; entries of other devices are kept, this device's stale ones dropped.
/// </summary>
/// <param name="path">The cache file.</param>
public sealed class TuningCache(string path)
{
    private const int Format = 1;

    /// <summary>The cache file.</summary>
    public string Path { get; } = path;

    /// <summary>The choices cached for <paramref name="device"/>; a file that cannot be read says so through
    /// <paramref name="log"/> and counts as empty.</summary>
    public IReadOnlyDictionary<TuningKey, KernelVariant> Load(DeviceIdentity device, Action<string> log)
    {
        var choices = new Dictionary<TuningKey, KernelVariant>();
        foreach (var (identity, key, variant) in ReadEntries(log))
        {
            if (identity == device) choices[key] = variant;
        }
        return choices;
    }

    /// <summary>Adds <paramref name="choices"/> for <paramref name="device"/> to the file (written atomically); a
    /// file that cannot be written says so through <paramref name="log"/> (the run goes on).</summary>
    public void Save(DeviceIdentity device, IReadOnlyDictionary<TuningKey, KernelVariant> choices, Action<string> log)
    {
        // This device's entries of another driver or build are stale for good; the keys timed now are replaced.
        bool Dropped(DeviceIdentity identity, TuningKey key) => identity.Device == device.Device &&
            (identity.Driver != device.Driver || identity.Version != device.Version ||
             (identity == device && choices.ContainsKey(key)));
        var kept = ReadEntries(_ => { }).Where(e => !Dropped(e.Identity, e.Key))
            .Concat(choices.Select(c => (Identity: device, c.Key, Variant: c.Value)));
        var entries = new JsonArray();
        foreach (var (identity, key, variant) in kept)
        {
            var s = key.Shape;
            entries.Add(new JsonObject
            {
                ["device"] = identity.Device, ["driver"] = identity.Driver, ["version"] = identity.Version,
                ["precision"] = identity.Precision, ["operation"] = key.Operation.ToString(),
                ["shape"] = new JsonArray(s.InChannels, s.Height, s.Width, s.OutChannels, s.KernelHeight,
                    s.KernelWidth, s.Padding, s.Stride),
                ["variant"] = variant.ToString(),
            });
        }
        var document = new JsonObject { ["format"] = Format, ["entries"] = entries };
        string full = System.IO.Path.GetFullPath(Path);
        string temp = $"{full}.{Environment.ProcessId}.tmp";
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
            File.WriteAllText(temp, document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log($"the tuning cache {Path} could not be written ({e.Message.TrimEnd('.')}); the choices hold for " +
                "this run only.");
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Every well-formed entry of the file; nothing when it is missing, unreadable or not the format.
    /// </summary>
    private List<(DeviceIdentity Identity, TuningKey Key, KernelVariant Variant)> ReadEntries(Action<string> log)
    {
        var entries = new List<(DeviceIdentity, TuningKey, KernelVariant)>();
        if (!File.Exists(Path)) return entries;
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(Path));
            if (root?["format"]?.GetValue<int>() != Format || root["entries"] is not JsonArray array)
            {
                log($"the tuning cache {Path} is not in this program's format; it is ignored (and rewritten when a " +
                    "shape is timed).");
                return entries;
            }
            foreach (var node in array)
            {
                if (Entry(node) is { } entry) entries.Add(entry);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException
                                      or InvalidOperationException or FormatException)
        {
            log($"the tuning cache {Path} cannot be read ({e.Message.TrimEnd('.')}); it is ignored (and rewritten " +
                "when a shape is timed).");
            entries.Clear();
        }
        return entries;
    }

    /// <summary>One entry, or null when any part is missing, of the wrong kind or out of range.</summary>
    private static (DeviceIdentity, TuningKey, KernelVariant)? Entry(JsonNode? node)
    {
        try
        {
            if (node is not JsonObject o || o["shape"] is not JsonArray shape || shape.Count != 8 ||
                shape.Any(n => n is not JsonValue))
            {
                return null;
            }
            int[] d = shape.Select(n => n!.GetValue<int>()).ToArray();
            var s = new Conv2dShape(d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]);
            s.Validate();
            if (!Enum.TryParse<TunedOperation>(Text(o, "operation"), out var operation) ||
                !Enum.IsDefined(operation) ||
                !Enum.TryParse<KernelVariant>(Text(o, "variant"), out var variant) ||
                !Enum.IsDefined(variant) || variant == KernelVariant.Auto)
            {
                return null;
            }
            var identity = new DeviceIdentity(Text(o, "device"), Text(o, "driver"), Text(o, "version"),
                Text(o, "precision"));
            return (identity, new TuningKey(operation, s), variant);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException)
        {
            return null;
        }
    }

    private static string Text(JsonObject o, string name) =>
        o[name]?.GetValue<string>() ?? throw new FormatException($"no {name}");
}
