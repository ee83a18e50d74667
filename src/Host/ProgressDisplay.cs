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
/// only plain lines.
/// </summary>
internal static class ProgressDisplay
{
    /// <summary>Runs <paramref name="body"/> with a live bar when <paramref name="live"/>, else with plain lines on <paramref name="output"/>.</summary>
    public static void Run(TextWriter output, bool live, int iterations, Action<IProgressSink> body)
    {
        if (!live)
        {
            body(new PlainSink(output));
            return;
        }
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask("starting", maxValue: Math.Max(iterations, 1));
                body(new LiveSink(task, iterations));
            });
    }

    /// <summary>The <c>--print-every</c> line for one iteration.</summary>
    public static string FormatIteration(int iteration, int total, LossBreakdown l) => string.Create(CultureInfo.InvariantCulture,
        $"iteration {iteration}/{total}: total {l.Total:G6}, content {l.Content:G6}, style {l.Style:G6}, tv {l.TotalVariation:G6}");

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

    private sealed class LiveSink(ProgressTask task, int iterations) : IProgressSink
    {
        public void Update(int iteration, LossBreakdown l)
        {
            double seconds = task.ElapsedTime?.TotalSeconds ?? 0;
            double rate = seconds > 0 ? iteration / seconds : 0;
            task.Description = string.Create(CultureInfo.InvariantCulture,
                $"{iteration}/{iterations}  total {l.Total:0.###e+0}  content {l.Content:0.###e+0}  style {l.Style:0.###e+0}  tv {l.TotalVariation:0.###e+0}  {rate:0.00} it/s");
            task.Value = iteration;
        }

        public void Line(string text) => AnsiConsole.WriteLine(text);
    }
}
