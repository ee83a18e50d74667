using IlgpuStyle.Network.Weights;
using IlgpuStyle.Weights;

namespace IlgpuStyle.Host;

/// <summary>
/// Where a run's weights come from (<c>--weights</c>, or the default file, downloaded on first use), and how they
/// are loaded. The default VGG-19 weights live, found the same way from any working directory (a path
/// relative to the working directory would download 548 MB again in every folder a run starts in):
/// <list type="number">
/// <item>the file named by the environment variable <see cref="Variable"/>, when set;</item>
/// <item>else <c>weights/vgg19.safetensors</c> of the repository the program was built in, when
/// that file exists (a clone that converted its weights by hand, as weights/README.md says);</item>
/// <item>else the per-user location <see cref="PerUser"/>, where the first run downloads them.</item>
/// </list>
/// </summary>
internal static class WeightsLocation
{
    /// <summary>The environment variable that names the default weights file.</summary>
    public const string Variable = "ILGPU_STYLE_WEIGHTS";

    /// <summary>The default weights' file name, in every location.</summary>
    public const string FileName = "vgg19.safetensors";

    /// <summary>
    /// The per-user location: <c>vgg19.safetensors</c> in the per-user data folder (<see cref="UserData.Folder"/>:
    /// on Linux <c>$XDG_DATA_HOME/ilgpu-style</c> or <c>~/.local/share/ilgpu-style</c>).
    /// </summary>
    public static string PerUser => Path.Combine(UserData.Folder, FileName);

    /// <summary>The weights file a run uses: <c>--weights</c>, or the default (<see cref="Default"/>); the source in
    /// words, for messages; whether it is the default, which a run may download.</summary>
    public static (string Path, string Source, bool IsDefault) Of(string? weights)
    {
        if (weights is not null) return (weights, "--weights", false);
        var (path, source) = Default();
        return (path, source, true);
    }

    /// <summary>
    /// Loads the weights, printing what it does (a large file takes seconds); the default file is
    /// downloaded and converted on first use, an explicit <c>--weights</c> must exist. A file the converter could
    /// read (a .pth or .caffemodel) is refused with the command that converts it.
    /// </summary>
    public static VggWeights Load(string path, string source, bool isDefault, TextWriter output)
    {
        if (Directory.Exists(path))
        {
            throw new UsageException($"The weights file '{path}' is a folder, not a file. Give the .safetensors " +
                                     "file in it.");
        }
        if (!File.Exists(path))
        {
            if (!isDefault)
            {
                throw new UsageException($"The weights file '{path}' does not exist. Convert one with " +
                                         "tools/Converter, or leave --weights out to download VGG-19.");
            }
            output.WriteLine($"The default weights {path} ({source}) are missing: downloading torchvision's " +
                             $"VGG-19 weights and converting them (once; set {Variable} to use another file).");
            try
            {
                WeightDownloader.DownloadAndConvertAsync(TorchvisionFile.Vgg19, path, log: output)
                    .GetAwaiter().GetResult();
            }
            catch (ConverterException e)
            {
                throw new UsageException(e.Message);
            }
        }
        output.WriteLine($"Loading the weights {path}...");
        try
        {
            return VggWeights.Load(path);
        }
        catch (WeightsFormatException e)
        {
            if (WeightSources.Recognise(path) is { } kind)
            {
                string converted = Path.ChangeExtension(path, ".safetensors");
                if (converted == path) converted = Path.ChangeExtension(path, ".converted.safetensors");
                throw new UsageException($"The weights file '{path}' is {kind}, which the program reads once " +
                                         "converted: dotnet run --project tools/Converter -c Release -- " +
                                         $"{Quoted(path)} {Quoted(converted)}, then --weights {Quoted(converted)}.");
            }
            throw new UsageException(
                $"The weights file cannot be used: {e.Message} Convert it again with tools/Converter.");
        }
    }

    /// <summary>A path as a shell takes it: in single quotes when it holds anything but plain characters.</summary>
    private static string Quoted(string path) =>
        path.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-' or '+' or ':')
            ? path
            : $"'{path.Replace("'", "'\\''", StringComparison.Ordinal)}'";

    /// <summary>
    /// VGG-19's layer shapes with zero weights, for planning a run whose default weights are not downloaded yet:
    /// the plan needs shapes only. Layers of one shape share one array (19 MB instead of 548 MB).
    /// </summary>
    public static VggWeights Vgg19Shapes()
    {
        var architecture = VggArchitecture.Vgg19;
        var arrays = new Dictionary<long, float[]>();
        float[] Zeros(long length) => arrays.TryGetValue(length, out var a) ? a : arrays[length] = new float[length];
        var tensors = new List<NamedTensor>();
        int inChannels = 3;
        foreach (string name in architecture.ConvNames)
        {
            int outChannels = architecture.OutChannels(name);
            tensors.Add(new NamedTensor(name + ".weight", [outChannels, inChannels, 3, 3],
                Zeros(9L * outChannels * inChannels)));
            tensors.Add(new NamedTensor(name + ".bias", [outChannels], Zeros(outChannels)));
            inChannels = outChannels;
        }
        var metadata = new Dictionary<string, string> { ["arch"] = "vgg19", ["preprocess"] = "torchvision" };
        return VggWeights.FromTensors(tensors, metadata, "VGG-19's shapes");
    }

    /// <summary>The default weights file, and in words where that choice came from (for messages). A file named
    /// by <see cref="Variable"/> must exist: the download goes only to the built-in locations, never to a path
    /// that may be a typo.</summary>
    public static (string Path, string Source) Default()
    {
        string? named = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrWhiteSpace(named))
        {
            if (!File.Exists(named))
            {
                throw new UsageException($"{Variable} names '{named}', which is not a file. Set it to converted " +
                                         $"weights, or unset it to use (and on first use download) {PerUser}.");
            }
            return (Path.GetFullPath(named), $"from {Variable}");
        }
        if (RepositoryWeights() is { } repository && File.Exists(repository))
            return (repository, "the repository's weights/");
        return (PerUser, "the per-user location");
    }

    /// <summary><c>weights/vgg19.safetensors</c> of the repository above the program's own folder, if any.</summary>
    private static string? RepositoryWeights()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "IlgpuStyle.sln")))
                return Path.Combine(dir.FullName, "weights", FileName);
        }
        return null;
    }
}
