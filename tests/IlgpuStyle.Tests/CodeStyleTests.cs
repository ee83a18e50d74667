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
}
