using System.Globalization;
using IlgpuStyle.Host;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// Values a shell hands over by mistake: an empty string (an unset variable), a list that names nothing, a number
/// past int's range; and the help under a locale whose decimal mark is a comma. Each is one line naming the option,
/// exit code 2, nothing written, never a stack trace.
/// </summary>
[NonParallelizable] // one test sets the current culture
public sealed class EmptyAndOutOfRangeTests
{
    private static string Refused(params string[] changes)
    {
        string folder = NewFolder("empty");
        string error = SmallRuns.Refused(Run(SmallRuns.SmallRun(Path.Combine(folder, "out.png"), changes)));
        Assert.That(Directory.GetFiles(folder), Is.Empty, "nothing written");
        return error;
    }

    [Test]
    public void AnEmptyFileNameIsRefusedNamingTheOption(
        [Values("--content", "--output", "--report", "--weights", "--content-mask", "--init-image")] string option,
        [Values("", " ")] string value) =>
        Assert.That(Refused(option, value),
            Does.StartWith($"error: {option} takes a file name, and '{value}' is empty"));

    [TestCase("--style", "")]
    [TestCase("--style", ",")]
    [TestCase("--content-masks", "")]
    [TestCase("--style-masks", " , ")]
    public void AFileListThatNamesNothingIsRefused(string option, string value) =>
        Assert.That(Refused(option, value),
            Does.StartWith($"error: {option} takes comma-separated file names, and '{value}' names none"));

    [TestCase("--style-layers", "", "--style-weight 0")]
    [TestCase("--style-layers", ",", "--style-weight 0")]
    [TestCase("--content-layers", "", "--content-weight 0")]
    [TestCase("--content-layers", " ", "--content-weight 0")]
    public void ALayerListThatNamesNothingIsRefusedSayingHowToLeaveTheLossOut(string option, string value,
        string instead) =>
        Assert.That(Refused(option, value),
            Does.StartWith($"error: {option} takes comma-separated ReLU layers").And.Contain($"'{value}' names none")
                .And.Contain(instead));

    [TestCase("--size", "99999999999", "from 1 to 2147483647")]
    [TestCase("--seed", "99999999999999", "from -2147483648 to 2147483647")]
    [TestCase("--seed", "-99999999999999", "from -2147483648 to 2147483647")]
    [TestCase("--iterations", "3000000000", "from 0 to 2147483647")]
    public void ANumberPastTheRangeNamesTheRange(string option, string value, string range) =>
        Assert.That(Refused(option, value),
            Does.StartWith($"error: {option} takes a whole number {range}; '{value}' is out of range."));

    [Test]
    public void TheHelpShowsInvariantNumbersUnderAGermanLocale()
    {
        var culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
        try
        {
            var run = Run("--help");
            Assert.That(run.Exit, Is.EqualTo(0), run.ToString());
            Assert.That(run.Output, Does.Contain("[default: 1.41421356]").And.Not.Contain("1,41421356"));
            Assert.That(CultureInfo.CurrentCulture.Name, Is.EqualTo("de-DE"), "the caller's culture is restored");
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }
}
