namespace IlgpuStyle.Tests.Support;

/// <summary>
/// The workplace's <c>../shared</c> folder beside the repository (real images and weight fixtures).
/// CI always has it; a user's fresh clone does not, so tests that need it skip with the reason.
/// </summary>
internal static class SharedFolder
{
    /// <summary>The repository root: the first ancestor of the test binaries holding IlgpuStyle.sln.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "IlgpuStyle.sln"))) return dir.FullName;
            }
            throw new DirectoryNotFoundException("IlgpuStyle.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>The path of a file under ../shared, or an ignored (skipped) test when it is absent.</summary>
    public static string Require(string relativePath)
    {
        string path = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", relativePath));
        if (!File.Exists(path))
            Assert.Ignore($"../shared/{relativePath} is not beside this clone (it is in CI); the project's own fixtures cover this code without it.");
        return path;
    }
}
