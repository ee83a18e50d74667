using IlgpuStyle.Host;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// The arguments of a small run (the drawn content and style images, the tiny weights, the CPU, 32 pixels, one
/// iteration) with some options changed, and the contract every refused run keeps: exit code 2, one line that
/// starts with <c>error: </c>, no stack trace.
/// </summary>
internal static class SmallRuns
{
    /// <summary>
    /// The small run's arguments writing to <paramref name="output"/>, each of <paramref name="changes"/>
    /// replacing the option's value or adding it: a null value leaves the option out, an empty one gives it as a
    /// flag (<c>--dry-run</c>).
    /// </summary>
    public static string[] SmallRun(string output, params (string Option, string? Value)[] changes) =>
        Build(output, changes.Select(c => (c.Option, c.Value == "" ? Flag : c.Value)));

    /// <summary><see cref="SmallRun(string, ValueTuple{string, string}[])"/> with the changes as option, value
    /// pairs (<c>"--size", "64"</c>); an empty value is given as it is (a shell's <c>--content ""</c>).</summary>
    public static string[] SmallRun(string output, params string[] changes) =>
        Build(output, Enumerable.Range(0, changes.Length / 2)
            .Select(i => (changes[2 * i], (string?)changes[2 * i + 1])));

    /// <summary>Marks an option given without a value.</summary>
    private const string Flag = "\0flag";

    private static string[] Build(string output, IEnumerable<(string Option, string? Value)> changes)
    {
        var options = new List<(string Option, string? Value)>
        {
            ("--content", ContentPng), ("--style", StylePng), ("--weights", TinyWeights()), ("--device", "cpu"),
            ("--size", "32"), ("--iterations", "1"), ("--output", output),
        };
        foreach (var (option, value) in changes)
        {
            int at = options.FindIndex(o => o.Option == option);
            if (at >= 0) options.RemoveAt(at);
            if (value is not null) options.Add((option, value));
        }
        return options.SelectMany(o => o.Value == Flag ? new[] { o.Option } : [o.Option, o.Value!]).ToArray();
    }

    /// <summary>Checks that <paramref name="run"/> was refused as every bad input is; returns its error line.
    /// </summary>
    public static string Refused(CliResult run)
    {
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Usage), run.ToString());
        string error = run.Error.TrimEnd();
        Assert.That(error, Does.StartWith("error: ").And.Not.Contain('\n'), run.ToString());
        Assert.That(run.Error + run.Output, Does.Not.Contain("   at ").And.Not.Contain("Exception"), "no stack trace");
        return error;
    }
}
