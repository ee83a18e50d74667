namespace IlgpuStyle.Tests.Support;

/// <summary>
/// The workplace's <c>../shared</c> folder beside the repository (real images and weight fixtures).
/// CI always has it; a user's fresh clone does not, so tests that need it skip with the reason.
/// </summary>
internal static class SharedFolder
{
    /// <summary>
    /// The repository root: the first ancestor of the test binaries (or, when they were built
    /// elsewhere with --artifacts-path, of the folder they were built from, or of the working
    /// directory) that holds IlgpuStyle.sln; null if none.
    /// </summary>
    public static string? RepositoryRoot =>
        FindAbove(AppContext.BaseDirectory) ?? FindAbove(SourceDirectory) ?? FindAbove(Environment.CurrentDirectory);

    private static string? SourceDirectory => typeof(SharedFolder).Assembly
        .GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
        .Cast<System.Reflection.AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "SourceDirectory")?.Value;

    private static string? FindAbove(string? start)
    {
        if (start is null) return null;
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "IlgpuStyle.sln"))) return dir.FullName;
        }
        return null;
    }

    /// <summary>The path of a file under ../shared, or an ignored (skipped) test when it is absent.</summary>
    public static string Require(string relativePath)
    {
        string? root = RepositoryRoot;
        if (root is null)
            Assert.Ignore("The repository root (IlgpuStyle.sln) is not above the test binaries or the working " +
                          "directory, so ../shared cannot be found.");
        string path = Path.GetFullPath(Path.Combine(root!, "..", "shared", relativePath));
        if (!File.Exists(path))
            Assert.Ignore($"../shared/{relativePath} is not beside this clone (it is in CI); " +
                "the project's own fixtures cover this code without it.");
        return path;
    }
}
