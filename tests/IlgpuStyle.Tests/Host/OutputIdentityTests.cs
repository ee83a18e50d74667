using IlgpuStyle.Host;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// No output replaces an input, however the two paths are spelled: through a linked folder anywhere in the path,
/// through a hard link (one file, two names), or with <c>..</c> after a linked folder, which the system resolves
/// from the link's target and .NET's own path functions resolve as text. Every file the console writes is
/// checked: the image, the report, the snapshots (issue 22, defect 1).
/// </summary>
public sealed class OutputIdentityTests
{
    /// <summary>Links need privileges or other calls on Windows. (Not NUnit's <c>[Platform]</c>, which fails
    /// under a Turkish locale.)</summary>
    [OneTimeSetUp]
    public void NotOnWindows()
    {
        if (OperatingSystem.IsWindows())
            Assert.Ignore("symbolic and hard links need privileges or other calls on Windows");
    }

    private string _folder = "";
    private string _images = ""; // holds the inputs
    private string _link = "";   // a link to _images, in another folder
    private string _content = "";
    private string _style = "";

    [SetUp]
    public void Folders()
    {
        _folder = NewFolder("identity");
        _images = Directory.CreateDirectory(Path.Combine(_folder, "shared", "images")).FullName;
        _content = Path.Combine(_images, "photo.png");
        _style = Path.Combine(_images, "painting.png");
        File.Copy(ContentPng, _content);
        File.Copy(StylePng, _style);
        string work = Directory.CreateDirectory(Path.Combine(_folder, "work")).FullName;
        _link = Path.Combine(work, "imglink");
        File.CreateSymbolicLink(_link, _images);
        // Long ago, so that any write in the folder (a file made and deleted) shows, whatever the clock's tick.
        Directory.SetLastWriteTimeUtc(_images, Untouched);
    }

    private static readonly DateTime Untouched = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private CliResult RunWith(params string[] changes) => Run(SmallRuns.SmallRun(Path.Combine(_folder, "out.png"),
        ["--content", _content, "--style", _style, "--iterations", "2", .. changes]));

    /// <summary>Refused in one line before the run, and the inputs are as they were.</summary>
    private void AssertRefused(CliResult run, string message)
    {
        Assert.That(SmallRuns.Refused(run), Does.StartWith("error: " + message));
        Assert.That(File.ReadAllBytes(_content), Is.EqualTo(File.ReadAllBytes(ContentPng)), "the content is intact");
        Assert.That(File.ReadAllBytes(_style), Is.EqualTo(File.ReadAllBytes(StylePng)), "the style is intact");
        Assert.That(Directory.GetLastWriteTimeUtc(_images), Is.EqualTo(Untouched),
            "nothing was written in the inputs' folder, not even a probe of whether it can be written");
    }

    [Test]
    public void AnOutputThroughALinkedFolderIsTheInput()
    {
        string output = Path.Combine(_link, "painting.png");
        AssertRefused(RunWith("--output", output), $"The output image '{output}' is the style image");
        AssertRefused(RunWith("--report", Path.Combine(_link, "photo.png")), "The report");
    }

    [Test]
    public void AnInputThroughALinkedFolderIsTheOutput()
    {
        string output = Path.Combine(_images, "out.png");
        var run = RunWith("--output", output, "--report", Path.Combine(_link, "out.png"));
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Error, Does.StartWith("error: The report and the output image are the same file"));
        Assert.That(File.Exists(output), Is.False, "nothing written");
    }

    [Test]
    public void AHardLinkIsTheSameFile()
    {
        string hardLink = Path.Combine(_folder, "photo-again.png");
        Assert.That(HardLink(_content, hardLink), Is.True, "the test folder takes hard links");
        AssertRefused(RunWith("--output", hardLink), $"The output image '{hardLink}' is the content image");
    }

    /// <summary><c>imglink/..</c> is the parent of the link's target (shared/), not the link's folder (work/).
    /// </summary>
    [Test]
    public void DotDotAfterALinkedFolderIsResolvedAsTheSystemDoes()
    {
        string viaLink = Path.Combine(_link, "..", "images", "photo.png");
        AssertRefused(RunWith("--output", viaLink), "The output image");
        string output = Path.Combine(_link, "..", "out.png");
        var run = RunWith("--output", output);
        Assert.That(run.Exit, Is.EqualTo(0), run.ToString());
        Assert.That(File.Exists(Path.Combine(_folder, "shared", "out.png")), Is.True, "beside the link's target");
        Assert.That(File.Exists(Path.Combine(_folder, "work", "out.png")), Is.False, "not beside the link");
    }

    [Test]
    public void ASnapshotThroughALinkedFolderIsTheInput()
    {
        // --save-every 1 saves out_1.png; an input of that name, reached through the link, is refused.
        File.Copy(ContentPng, Path.Combine(_images, "out_1.png"));
        string content = Path.Combine(_images, "out_1.png");
        var run = RunWith("--content", content, "--output", Path.Combine(_link, "out.png"), "--save-every", "1");
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.Error,
            Does.StartWith("error: The snapshot of iteration 1 '").And.Contain("is the content image"));
        Assert.That(File.ReadAllBytes(content), Is.EqualTo(File.ReadAllBytes(ContentPng)));
    }

    /// <summary>A hard link made by the system's <c>ln</c> (.NET has no call for one).</summary>
    internal static bool HardLink(string target, string link)
    {
        using var ln = System.Diagnostics.Process.Start("ln", [target, link]);
        ln.WaitForExit();
        return ln.ExitCode == 0 && File.Exists(link);
    }
}
