using System.CommandLine;
using IlgpuStyle.Host;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// The main job's command line read in-process, without running anything: what the parser and
/// <see cref="OptionRules"/> make of some arguments.
/// </summary>
internal static class OptionParsing
{
    /// <summary>The arguments of a minimal valid run (a content and a style image that need not exist).</summary>
    public static readonly string[] Minimal = ["--content", "c.png", "--style", "s.png"];

    /// <summary>The options <paramref name="args"/> give, or the one-line error the user would see (without its
    /// <c>error: </c> and the help hint).</summary>
    public static (RunOptions? Options, string? Error) TryParse(params string[] args)
    {
        var root = new RootCommand();
        var parser = new StyleOptionsParser(root);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0) return (null, parsed.Errors[0].Message);
        try
        {
            return (parser.Read(parsed), null);
        }
        catch (UsageException e)
        {
            return (null, e.Message);
        }
    }

    /// <summary>The options of <see cref="Minimal"/> with <paramref name="more"/>; the test fails on an error.
    /// </summary>
    public static RunOptions Parse(params string[] more)
    {
        var (options, error) = TryParse([.. Minimal, .. more]);
        Assert.That(error, Is.Null, "the arguments should be accepted");
        return options!;
    }

    /// <summary>The error <see cref="Minimal"/> with <paramref name="more"/> gives; the test fails when they are
    /// accepted.</summary>
    public static string Refused(params string[] more)
    {
        var (_, error) = TryParse([.. Minimal, .. more]);
        Assert.That(error, Is.Not.Null, $"{string.Join(' ', more)} should be refused");
        return error!;
    }
}
