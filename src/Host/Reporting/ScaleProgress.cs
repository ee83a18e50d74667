using System.Diagnostics;
using IlgpuStyle.Network;
using IlgpuStyle.Optimization;

namespace IlgpuStyle.Host;

/// <summary>
/// Runs one scale's optimizer to its iteration count (or until it stops), as a run shows it: the
/// <c>--print-every</c> lines and report entries, the live bar, the <c>--save-every</c> snapshots, and why it
/// stopped early.
/// </summary>
internal static class ScaleProgress
{
    /// <summary>Optimizes <paramref name="scale"/>; returns the last step and the losses of the image the scale
    /// holds after it, null when those are not finite (the starting image's loss was infinite or NaN).</summary>
    /// <param name="scale">The scale, built.</param>
    /// <param name="o">The run's options (what to print and save when).</param>
    /// <param name="output">Where the lines go.</param>
    /// <param name="live">Draw a live progress bar.</param>
    /// <param name="records">The report's entries, appended to.</param>
    /// <param name="interruption">Ctrl-C and SIGTERM, when the process listens for them.</param>
    /// <param name="snapshot">Saves a snapshot of iteration i, saying so through the given line writer.</param>
    /// <param name="page">The page's record of the run (<c>--preview</c>, <c>--html-report</c>): told of every
    /// iteration; null costs nothing.</param>
    public static (OptimizerStep Last, LossBreakdown? Losses) Optimize(ScaleRun scale, RunOptions o,
        TextWriter output, bool live, List<IterationRecord> records, Interruption? interruption,
        Action<int, Action<string>> snapshot, RunWatch? page = null)
    {
        int total = scale.Plan.Scale.Iterations;
        string? label = scale.Plan.ProgressLabel;
        OptimizerStep last = default;
        LossBreakdown losses = default;
        ProgressDisplay.Run(output, live, total, sink =>
        {
            var watch = Stopwatch.StartNew();
            last = scale.Start();
            losses = scale.ReadLosses();
            // A starting image whose loss is not finite is printed as it is (Infinity, NaN), but a report row
            // holds only numbers (JSON has no NaN), so it gets none.
            if (IsFinite(losses)) Record(records, sink, scale.Plan, 0, losses, watch.Elapsed.TotalMilliseconds);
            else sink.Line(ProgressDisplay.FormatIteration(0, total, losses, scale.Plan.ProgressLabel));
            page?.Step(scale, 0, losses, sink.Line, snapshot);
            while (!last.Stopped && last.Iteration < total && interruption?.Requested != true)
            {
                watch.Restart();
                last = scale.Step();
                double ms = watch.Elapsed.TotalMilliseconds;
                if (last.Stop == StopReason.NonFinite)
                {
                    // The optimizer has moved x back to the previous iterate and evaluated there: the losses it
                    // now holds are that iterate's, not this iteration's, so they are neither shown nor recorded
                    // as this iteration's.
                    losses = scale.ReadLosses();
                    sink.Line(NonFiniteLine(last.Iteration, total, scale.Plan.ProgressLabel));
                    break;
                }
                bool final = last.Stopped || last.Iteration >= total || interruption?.Requested == true;
                bool print = final || (o.PrintEvery > 0 && last.Iteration % o.PrintEvery == 0);
                if (print || live) losses = scale.ReadLosses();
                sink.Update(last.Iteration, losses);
                if (print) Record(records, sink, scale.Plan, last.Iteration, losses, ms);
                if (o.SaveEvery > 0 && last.Iteration % o.SaveEvery == 0 && !final)
                    snapshot(last.Iteration, sink.Line);
                page?.Step(scale, last.Iteration, print || live ? losses : null, sink.Line, snapshot);
            }
        }, label: label);
        if (last.Stopped && last.Stop is not (StopReason.MaxIterations or StopReason.NonFinite)
            && last.Iteration < total)
        {
            string where = scale.Plan.Label is null ? "" : $"{scale.Plan.Label}: ";
            output.WriteLine($"{where}Stopped at iteration {last.Iteration}: {Describe(last.Stop)}.");
        }
        return (last, IsFinite(losses) ? losses : null);
    }

    /// <summary>The line for an iteration whose loss was infinite or NaN: the image stays the iteration
    /// before's.</summary>
    public static string NonFiniteLine(int iteration, int total, string? label) =>
        (label is null ? "" : label + ", ") + $"iteration {iteration}/{total}: the loss became infinite or NaN; " +
        $"the image goes back to iteration {iteration - 1}";

    private static bool IsFinite(LossBreakdown l) =>
        float.IsFinite(l.Total) && float.IsFinite(l.Content) && float.IsFinite(l.Style)
        && float.IsFinite(l.TotalVariation) && (l.Regions?.All(float.IsFinite) ?? true);

    private static void Record(List<IterationRecord> records, IProgressSink sink, ScalePlan scale, int iteration,
        LossBreakdown l, double ms)
    {
        int? index = scale.Label is null ? null : scale.Index;
        records.Add(new IterationRecord(iteration, l.Total, l.Content, l.Style, l.TotalVariation, ms, index,
            l.Regions?.Select(r => (double)r).ToList()));
        sink.Line(ProgressDisplay.FormatIteration(iteration, scale.Scale.Iterations, l, scale.ProgressLabel));
    }

    private static string Describe(StopReason reason) => reason switch
    {
        StopReason.GradientTolerance => "the gradient is below tolerance (converged)",
        StopReason.ChangeTolerance => "the loss or the image stopped changing (converged)",
        StopReason.LineSearchFailed =>
            "the line search found no lower loss (converged as far as float precision allows)",
        StopReason.NonFinite => "the loss became infinite or NaN; try smaller weights or a smaller --learning-rate",
        _ => reason.ToString(),
    };
}
