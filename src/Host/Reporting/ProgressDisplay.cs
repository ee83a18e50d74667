using System.Globalization;
using IlgpuStyle.Network;
using Spectre.Console;

namespace IlgpuStyle.Host;

/// <summary>Where a run reports as it goes.</summary>
internal interface IProgressSink
{
    /// <summary>After every iteration: moves the live bar (a no-op off a terminal).</summary>
    void Update(int iteration, LossBreakdown losses);

    /// <summary>A plain line (the <c>--print-every</c> lines, snapshots written).</summary>
    void Line(string text);
}

/// <summary>
/// What a run shows while it works: on a terminal a live progress bar (iteration, losses,
/// iterations per second, ETA) drawn by Spectre.Console; otherwise (a pipe, a log file, a test)
/// only plain lines. The live line always fits the terminal's width: on a narrow one it drops the
/// least useful numbers and then the bar, and never wraps (a wrapped line redraws as a scroll).
/// </summary>
internal static class ProgressDisplay
{
    /// <summary>Terminals narrower than this get no bar: the numbers matter more.</summary>
    private const int BarMinimumWidth = 60;

    /// <summary>
    /// Runs <paramref name="body"/> with a live bar on <paramref name="console"/> (the process's
    /// terminal when null) when <paramref name="live"/>, else with plain lines on
    /// <paramref name="output"/>. A coarse-to-fine run runs it once per scale, with the scale as
    /// <paramref name="label"/> (e.g. <c>scale 3/5 256x192</c>) before the iteration.
    /// </summary>
    public static void Run(TextWriter output, bool live, int iterations, Action<IProgressSink> body,
        IAnsiConsole? console = null, string? label = null)
    {
        if (!live)
        {
            body(new PlainSink(output));
            return;
        }
        console ??= AnsiConsole.Console;
        int width = console.Profile.Width;
        // Columns right of the description: "100%" and "00:00:00", each after one space of padding.
        int fixedColumns = 5 + 9;
        int bar = width >= BarMinimumWidth ? Math.Clamp(width / 5, 10, 40) : 0;
        var columns = new List<ProgressColumn> { new TaskDescriptionColumn { Alignment = Justify.Left } };
        if (bar > 0) columns.Add(new ProgressBarColumn { Width = bar });
        columns.Add(new PercentageColumn());
        columns.Add(new RemainingTimeColumn());
        // One column less than the terminal: writing into the last column makes some terminals wrap.
        int description = Math.Max(8, width - 1 - fixedColumns - (bar > 0 ? bar + 1 : 0));
        console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns([.. columns])
            .Start(context =>
            {
                var task = context.AddTask("starting", maxValue: Math.Max(iterations, 1));
                body(new LiveSink(console, task, iterations, description, label, width - 1));
            });
    }

    /// <summary>The <c>--print-every</c> line for one iteration, after the scale's label if there is one.
    /// With masks, each region's style loss follows the style loss in parentheses.</summary>
    public static string FormatIteration(int iteration, int total, LossBreakdown l, string? label = null)
    {
        string regions = l.Regions is null
            ? ""
            : $" (regions {string.Join(", ", l.Regions.Select(r => r.ToString("G4", CultureInfo.InvariantCulture)))})";
        return (label is null ? "" : label + ", ") + string.Create(CultureInfo.InvariantCulture,
            $"iteration {iteration}/{total}: total {l.Total:G6}, content {l.Content:G6}, " +
            $"style {l.Style:G6}{regions}, tv {l.TotalVariation:G6}");
    }

    /// <summary>
    /// The live bar's description in at most <paramref name="width"/> characters: the iteration
    /// always, then as many of the scale's <paramref name="label"/> (coarse to fine), the total loss,
    /// the rate, the style, content and TV losses (in that order of importance) as fit, shown in
    /// reading order.
    /// </summary>
    public static string FitLiveDescription(int width, int iteration, int total, LossBreakdown l, double rate,
        string? label = null)
    {
        static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
        var fields = new List<(int Importance, string Text)>
        {
            (0, Format($"{iteration}/{total}")),
            (2, Format($"total {l.Total:0.###e+0}")),
            (5, Format($"content {l.Content:0.###e+0}")),
            (4, Format($"style {l.Style:0.###e+0}")),
            (6, Format($"tv {l.TotalVariation:0.###e+0}")),
            (3, Format($"{rate:0.00} it/s")),
        };
        if (label is not null) fields.Insert(0, (1, label));
        const string Separator = "  ";
        var shown = new HashSet<int>();
        int used = 0;
        foreach (var (importance, text) in fields.OrderBy(f => f.Importance))
        {
            int needed = text.Length + (shown.Count > 0 ? Separator.Length : 0);
            if (shown.Count > 0 && used + needed > width) break;
            shown.Add(importance);
            used += needed;
        }
        string line = string.Join(Separator, fields.Where(f => shown.Contains(f.Importance)).Select(f => f.Text));
        return line.Length <= width ? line : line[..width];
    }

    /// <summary>Seconds as <c>1m 05s</c> or <c>42.0s</c>.</summary>
    public static string FormatDuration(double seconds) => seconds >= 60
        ? string.Create(CultureInfo.InvariantCulture, $"{(int)(seconds / 60)}m {(int)(seconds % 60):00}s")
        : string.Create(CultureInfo.InvariantCulture, $"{seconds:0.0}s");

    private sealed class PlainSink(TextWriter output) : IProgressSink
    {
        public void Update(int iteration, LossBreakdown losses)
        {
        }

        public void Line(string text) => output.WriteLine(text);
    }

    /// <summary>
    /// <paramref name="text"/> in lines of at most <paramref name="width"/> characters, broken after a comma where
    /// it can be (<c>iteration 5/10: total ..., content ..., style ... (regions ...), tv ...</c>), each line after
    /// the first indented by two spaces; a piece longer than a line is cut.
    /// </summary>
    public static IEnumerable<string> Wrap(string text, int width)
    {
        width = Math.Max(width, 8);
        string line = "";
        foreach (string piece in Pieces(text))
        {
            if (line.Length > 0 && line.Length + piece.Length > width)
            {
                yield return line.TrimEnd();
                line = "  ";
            }
            line += line == "  " ? piece.TrimStart() : piece;
            while (line.Length > width)
            {
                yield return line[..width];
                line = "  " + line[width..];
            }
        }
        if (line.Trim().Length > 0) yield return line.TrimEnd();
    }

    /// <summary>The text cut after each ", " and ": " (the separators stay with the piece before them).</summary>
    private static IEnumerable<string> Pieces(string text)
    {
        int start = 0;
        for (int i = 0; i + 1 < text.Length; i++)
        {
            if (text[i] is ',' or ':' && text[i + 1] == ' ')
            {
                yield return text[start..(i + 2)];
                start = i + 2;
            }
        }
        if (start < text.Length) yield return text[start..];
    }

    /// <summary>The live bar. Lines printed above it are wrapped to the terminal by <see cref="Wrap"/>: one the
    /// terminal wrapped itself would leave pieces of the bar behind when it is redrawn, since Spectre counts the
    /// lines it drew, not the rows they took.</summary>
    private sealed class LiveSink(IAnsiConsole console, ProgressTask task, int iterations, int width, string? label,
        int lineWidth) : IProgressSink
    {
        public void Update(int iteration, LossBreakdown l)
        {
            double seconds = task.ElapsedTime?.TotalSeconds ?? 0;
            double rate = seconds > 0 ? iteration / seconds : 0;
            // Markup-escaped: a description is Spectre markup, and the text holds no brackets anyway.
            task.Description = Markup.Escape(FitLiveDescription(width, iteration, iterations, l, rate, label));
            task.Value = iteration;
        }

        public void Line(string text)
        {
            foreach (string line in Wrap(text, lineWidth)) console.WriteLine(line);
        }
    }
}
