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
        // Every dimension set here: Spectre would otherwise read the height from the process's terminal, which
        // under TERM=dumb, in cron or in CI has none (a live display then fails with an ArgumentException).
        console.Profile.Width = width;
        console.Profile.Height = 24;
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

    /// <summary>
    /// Lines printed above the live bar (the --print-every lines of a coarse-to-fine run with regions, wider than
    /// 80 columns) are wrapped after a comma to fit, so the bar is redrawn cleanly: every row the terminal shows
    /// is shorter than it, and each printed line's text is all there, in order.
    /// </summary>
    [TestCase(80)]
    [TestCase(60)]
    public void LinesAboveTheBarFitTheTerminal(int width)
    {
        var losses = Large with { Regions = [1.234e11f, 5.678e10f, 9.1e9f] };
        string line = ProgressDisplay.FormatIteration(50, 500, losses, "scale 3/5 1024x768, 2x3 tiles");
        Assert.That(line.Length, Is.GreaterThan(width), "the line would wrap");
        var (console, screen) = Terminal(width);
        ProgressDisplay.Run(TextWriter.Null, live: true, iterations: 500, sink =>
        {
            for (int i = 0; i < 3; i++)
            {
                sink.Update(50 * i, losses);
                sink.Line(line);
            }
        }, console, "scale 3/5 1024x768, 2x3 tiles");

        var rows = VisibleLines(screen.ToString());
        Assert.That(rows.Max(r => r.Length), Is.LessThan(width), "every row shorter than the terminal");
        var wrapped = ProgressDisplay.Wrap(line, width - 1).ToList();
        Assert.That(string.Concat(wrapped.Select(w => w.Trim())).Replace(" ", "", StringComparison.Ordinal),
            Is.EqualTo(line.Replace(" ", "", StringComparison.Ordinal)), "nothing lost");
        Assert.That(wrapped.Skip(1), Has.All.StartWith("  ").And.All.Length.LessThan(width));
        Assert.That(wrapped.Select(w => rows.Count(r => r == w)), Has.All.EqualTo(3), "each piece printed 3 times");
    }

    [TestCase("iteration 5/10: total 1, content 2", 100, new[] { "iteration 5/10: total 1, content 2" })]
    [TestCase("iteration 5/10: total 1, content 2", 20, new[] { "iteration 5/10:", "  total 1, content 2" })]
    [TestCase("abcdefghijklmnop", 8, new[] { "abcdefgh", "  ijklmn", "  op" })]
    public void WrapBreaksAfterCommasAndColons(string text, int width, string[] expected) =>
        Assert.That(ProgressDisplay.Wrap(text, width), Is.EqualTo(expected));

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
