using System.Text.RegularExpressions;
using IlgpuStyle.Host;
using IlgpuStyle.Network;
using Spectre.Console;

namespace IlgpuStyle.Tests.Host;

/// <summary>The live bar fits the terminal's width; the plain lines off a terminal stay as they were.</summary>
public sealed partial class ProgressDisplayTests
{
    private static readonly LossBreakdown Large = new(1.234567e12f, 9.87654e11f, 2.46801e11f, 3.3e9f);

    /// <summary>A terminal of <paramref name="width"/> columns that records what is drawn on it.</summary>
    private static (IAnsiConsole Console, StringWriter Screen) Terminal(int width)
    {
        var screen = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.TrueColor,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(screen),
        });
        console.Profile.Width = width;
        console.Profile.Capabilities.Interactive = true;
        return (console, screen);
    }

    [GeneratedRegex(@"\x1b\[[0-9;]*m")]
    private static partial Regex Colours();

    [GeneratedRegex(@"\x1b\[[0-9;?]*[A-Za-z]")]
    private static partial Regex CursorMoves();

    /// <summary>
    /// Every line drawn, as the terminal shows it: colours removed, split wherever the cursor
    /// moves (a new line, a carriage return, a jump back to redraw).
    /// </summary>
    private static List<string> VisibleLines(string screen) =>
        CursorMoves().Replace(Colours().Replace(screen, ""), "\n").Split('\n', '\r')
            .Select(l => l.TrimEnd()).Where(l => l.Length > 0).ToList();

    [TestCase(80)]
    [TestCase(60)]
    [TestCase(40)]
    [TestCase(120)]
    public void TheLiveBarNeverWraps(int width)
    {
        var (console, screen) = Terminal(width);
        ProgressDisplay.Run(TextWriter.Null, live: true, iterations: 1000, sink =>
        {
            foreach (int i in new[] { 0, 1, 250, 999, 1000 }) sink.Update(i, Large);
        }, console);

        var lines = VisibleLines(screen.ToString());
        TestContext.Out.WriteLine(string.Join("\n", lines));
        Assert.That(lines, Is.Not.Empty);
        Assert.That(lines.Max(l => l.Length), Is.LessThan(width), "every line shorter than the terminal");
        Assert.That(lines.Last(), Does.StartWith("1000/1000"), "the iteration is always shown");
        if (width >= 80) Assert.That(lines.Last(), Does.Contain("total 1.235e+12"));
    }

    [Test]
    public void TheDescriptionDropsTheLeastUsefulNumbersFirst()
    {
        string all = ProgressDisplay.FitLiveDescription(200, 5, 10, Large, 1.5);
        Assert.That(all, Is.EqualTo("5/10  total 1.235e+12  content 9.877e+11  style 2.468e+11  tv 3.3e+9  1.50 it/s"));
        Assert.That(ProgressDisplay.FitLiveDescription(40, 5, 10, Large, 1.5),
            Is.EqualTo("5/10  total 1.235e+12  1.50 it/s"));
        Assert.That(ProgressDisplay.FitLiveDescription(12, 5, 10, Large, 1.5), Is.EqualTo("5/10"));
        Assert.That(ProgressDisplay.FitLiveDescription(3, 5, 10, Large, 1.5), Is.EqualTo("5/1"));
    }

    /// <summary>Off a terminal nothing but the plain lines is written: no escape codes, no bar.</summary>
    [Test]
    public void PipedOutputIsPlainLines()
    {
        using var output = new StringWriter();
        ProgressDisplay.Run(output, live: false, iterations: 2, sink =>
        {
            sink.Update(1, Large);
            sink.Line(ProgressDisplay.FormatIteration(2, 2, Large));
        });
        Assert.That(output.ToString(), Is.EqualTo(
            "iteration 2/2: total 1.23457E+12, content 9.87654E+11, style 2.46801E+11, tv 3.3E+09"
            + Environment.NewLine));
    }
}
