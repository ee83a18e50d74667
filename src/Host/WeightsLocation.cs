namespace IlgpuStyle.Host;

/// <summary>
/// Where the default VGG-19 weights live, found the same way from any working directory (a path
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
    /// The per-user location: the platform's local application data folder (Linux:
    /// <c>~/.local/share</c> or <c>$XDG_DATA_HOME</c>; Windows: <c>%LOCALAPPDATA%</c>; macOS:
    /// <c>~/Library/Application Support</c>), <c>ilgpu-style/vgg19.safetensors</c>.
    /// </summary>
    public static string PerUser => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData,
            Environment.SpecialFolderOption.DoNotVerify),
        "ilgpu-style", FileName);

    /// <summary>The default weights file, and in words where that choice came from (for messages).</summary>
    public static (string Path, string Source) Default()
    {
        string? named = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrWhiteSpace(named)) return (Path.GetFullPath(named), $"from {Variable}");
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
