namespace IlgpuStyle.Host;

/// <summary>
/// The per-user data folder the program keeps its files in: the platform's local application data folder (Linux:
/// <c>$XDG_DATA_HOME</c> or <c>~/.local/share</c>; Windows: <c>%LOCALAPPDATA%</c>; macOS:
/// <c>~/Library/Application Support</c>), <c>ilgpu-style/</c>. The default weights
/// (<see cref="WeightsLocation.PerUser"/>) and the tuning cache (<see cref="TuningCache"/>) live there.
/// </summary>
internal static class UserData
{
    /// <summary>The folder (it may not exist yet: whoever writes first makes it).</summary>
    public static string Folder => Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData,
            Environment.SpecialFolderOption.DoNotVerify),
        "ilgpu-style");

    /// <summary>The tuner's choices per device, driver, program version and shape (<c>--tune</c>).</summary>
    public static string TuningCache => Path.Combine(Folder, "tuning.json");
}
