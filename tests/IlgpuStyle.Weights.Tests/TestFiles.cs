namespace IlgpuStyle.Weights.Tests;

/// <summary>Where the tests find the shared fixtures, and a scratch folder per test.</summary>
internal static class TestFiles
{
    /// <summary>The repository root: the nearest folder above the test assembly that holds IlgpuStyle.sln.</summary>
    public static string? RepoRoot { get; } = FindRepoRoot();

    /// <summary>../shared/fixtures/weights beside the repository, or null when this checkout has none.</summary>
    public static string? SharedWeights
    {
        get
        {
            if (RepoRoot == null)
                return null;
            string dir = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "fixtures", "weights"));
            return Directory.Exists(dir) ? dir : null;
        }
    }

    /// <summary>
    /// The shared fixture folder, or marks the test ignored (never silently passed) when it is absent.
    /// </summary>
    public static string RequireSharedWeights() =>
        SharedWeights ?? IgnoreMissing();

    /// <summary>A fresh empty folder for one test's files.</summary>
    public static string NewScratchFolder()
    {
        string dir = Path.Combine(Path.GetTempPath(), "ilgpu-style-weights-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string IgnoreMissing()
    {
        Assert.Ignore(
            "../shared/fixtures/weights is not present beside the repository; " +
            "shared-fixture tests skipped (the built-in fixtures still cover the readers).");
        return "";
    }

    private static string? FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "IlgpuStyle.sln")))
                return dir.FullName;
        }
        // Built with --artifacts-path outside the tree: walk up from the folder it was built from.
        string? source = typeof(TestFiles).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "SourceDirectory")?.Value;
        for (var dir = source == null ? null : new DirectoryInfo(source); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "IlgpuStyle.sln")))
                return dir.FullName;
        }
        return null;
    }
}
