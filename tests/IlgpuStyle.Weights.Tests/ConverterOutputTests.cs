using System.Diagnostics;
using IlgpuStyle.Converter;

namespace IlgpuStyle.Weights.Tests;

/// <summary>
/// The converter never replaces its input, under any spelling of the two paths (the same path, a linked folder,
/// a hard link, <c>..</c> after a linked folder), and writes only regular files, atomically: exit code 2, one
/// line, the input untouched (issue 22, defect 2).
/// </summary>
public sealed class ConverterOutputTests
{
    /// <summary>Links need privileges or other calls on Windows. (Not NUnit's <c>[Platform]</c>, which fails
    /// under a Turkish locale.)</summary>
    [OneTimeSetUp]
    public void NotOnWindows()
    {
        if (OperatingSystem.IsWindows())
            Assert.Ignore("symbolic and hard links need privileges or other calls on Windows");
    }

    private string _dir = "";
    private string _input = "";
    private byte[] _bytes = [];

    [SetUp]
    public void SetUp()
    {
        _dir = TestFiles.NewScratchFolder();
        string models = Directory.CreateDirectory(Path.Combine(_dir, "models")).FullName;
        _input = Path.Combine(models, "vgg.pth");
        _bytes = TinyVgg.Vgg19().ZipPth();
        File.WriteAllBytes(_input, _bytes);
        File.CreateSymbolicLink(Path.Combine(_dir, "work-link"), models);
        // Long ago, so that any write in the folder (a file made and deleted) shows, whatever the clock's tick.
        Directory.SetLastWriteTimeUtc(models, Untouched);
    }

    private static readonly DateTime Untouched = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private async Task AssertRefused(string output, string message)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Program.RunAsync([_input, output], stdout, stderr);
        Assert.That(code, Is.EqualTo(2), stderr.ToString());
        Assert.That(stderr.ToString().TrimEnd(), Does.StartWith("error: " + message).And.Not.Contain('\n'));
        Assert.That(File.ReadAllBytes(_input), Is.EqualTo(_bytes), "the input is intact");
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(_input)!), Is.EquivalentTo(new[] { _input }),
            "no temporary file left");
        Assert.That(Directory.GetLastWriteTimeUtc(Path.GetDirectoryName(_input)!), Is.EqualTo(Untouched),
            "nothing was written in the input's folder, not even a probe of whether it can be written");
    }

    [Test]
    public async Task TheSamePathIsRefused() =>
        await AssertRefused(_input, $"The output file '{_input}' is the input file");

    [Test]
    public async Task TheInputThroughALinkedFolderIsRefused()
    {
        string output = Path.Combine(_dir, "work-link", "vgg.pth");
        await AssertRefused(output, $"The output file '{output}' is the input file");
    }

    [Test]
    public async Task AHardLinkToTheInputIsRefused()
    {
        string output = Path.Combine(_dir, "hard.safetensors");
        using (var ln = Process.Start("ln", [_input, output])) ln.WaitForExit();
        Assert.That(File.Exists(output), Is.True, "ln made the hard link");
        await AssertRefused(output, $"The output file '{output}' is the input file");
    }

    [Test]
    public async Task DotDotAfterALinkedFolderIsTheLinksTarget()
    {
        string output = Path.Combine(_dir, "work-link", "..", "models", "vgg.pth");
        await AssertRefused(output, "The output file");
    }

    [Test]
    public async Task AFolderOrADeviceIsRefused()
    {
        await AssertRefused(_dir, $"The output file '{_dir}' is an existing folder");
        await AssertRefused("/dev/null", "The output file '/dev/null' exists and is not a regular file");
    }
}
