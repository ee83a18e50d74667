using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests;

/// <summary>
/// The code's own layout rules that a compiler does not check (STYLE.md; <c>.editorconfig</c>'s
/// <c>max_line_length</c>): a reader sees every line whole at 120 columns.
/// </summary>
public sealed class CodeStyleTests
{
    private const int MaxLineLength = 120;

    [Test]
    public void NoCSharpLineIsLongerThan120Characters()
    {
        string? root = SharedFolder.RepositoryRoot;
        if (root is null)
        {
            Assert.Ignore(
                "The repository root (IlgpuStyle.sln) is not above the test binaries or the working directory.");
        }
        var tooLong = new List<string>();
        foreach (string folder in new[] { "src", "tools", "tests" })
        {
            string top = Path.Combine(root!, folder);
            if (!Directory.Exists(top)) continue;
            foreach (string file in Directory.EnumerateFiles(top, "*.cs", SearchOption.AllDirectories))
            {
                string relative = Path.GetRelativePath(root!, file);
                if (relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj")) continue;
                string[] lines = File.ReadAllLines(file);
                for (int i = 0; i < lines.Length; i++)
                {
                    if (lines[i].Length > MaxLineLength)
                        tooLong.Add($"{relative}:{i + 1} ({lines[i].Length} characters)");
                }
            }
        }
        Assert.That(tooLong, Is.Empty,
            $"Lines over {MaxLineLength} characters:\n" + string.Join("\n", tooLong.Take(30)));
    }

    /// <summary>
    /// No test depends on the locale (issue 22, defect 10) through NUnit's <c>[Platform]</c>: NUnit upper-cases
    /// its platform names with the current culture, so under a Turkish locale "Win" becomes "WİN", which it does
    /// not know, and every test of the fixture fails in its setup. A test that cannot run on a platform says so
    /// itself (<c>OperatingSystem.IsWindows()</c>, then <c>Assert.Ignore</c>).
    /// </summary>
    [Test]
    public void NoTestUsesNUnitsPlatformAttribute()
    {
        string? root = SharedFolder.RepositoryRoot;
        if (root is null)
        {
            Assert.Ignore(
                "The repository root (IlgpuStyle.sln) is not above the test binaries or the working directory.");
        }
        string attribute = "[" + "Platform("; // split, so this file does not match itself
        var users = Directory.EnumerateFiles(Path.Combine(root!, "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(file => !Path.GetRelativePath(root!, file).Split(Path.DirectorySeparatorChar)
                .Any(part => part is "bin" or "obj"))
            .Where(file => File.ReadAllText(file).Contains(attribute, StringComparison.Ordinal))
            .Select(file => Path.GetRelativePath(root!, file)).ToList();
        Assert.That(users, Is.Empty, "[Platform] fails under a Turkish locale: " + string.Join(", ", users));
    }
}
