using ILGPU.Runtime;

namespace IlgpuStyle.Network;

/// <summary>
/// Device-side timing of the pieces of an evaluation: a profiling marker is enqueued on the
/// stream before each piece (a CUDA event on a GPU), so the host never waits in between; the
/// durations are read once, after the device has finished.
/// </summary>
/// <remarks>Needs a context created with profiling enabled (<c>Devices.CreateContext(profiling: true)</c>).</remarks>
public sealed class LayerProfiler(Accelerator accelerator) : IDisposable
{
    private readonly List<(string Label, ProfilingMarker Marker)> _marks = [];

    /// <summary>Marks the start of a piece called <paramref name="label"/> (and the end of the previous one).</summary>
    public void Mark(string label) => _marks.Add((label, accelerator.AddProfilingMarker()));

    /// <summary>
    /// Replays <paramref name="tape"/> as <see cref="Tape.Backward"/> does, from the last entry to the
    /// first, marking each one first as "name backward": the profiler wraps the tape from outside.
    /// </summary>
    public void Replay(Tape tape)
    {
        ArgumentNullException.ThrowIfNull(tape);
        for (int i = tape.Entries.Count - 1; i >= 0; i--)
        {
            var entry = tape.Entries[i];
            Mark(entry.Name + " backward");
            entry.Backward();
        }
    }

    /// <summary>
    /// Waits for the device and returns each piece's duration (from its mark to the next), adding
    /// up pieces with the same label. The last mark only closes the piece before it.
    /// </summary>
    public IReadOnlyList<(string Label, TimeSpan Time)> Collect()
    {
        accelerator.Synchronize();
        var totals = new List<(string Label, TimeSpan Time)>();
        for (int i = 0; i + 1 < _marks.Count; i++)
        {
            var elapsed = _marks[i + 1].Marker.MeasureFrom(_marks[i].Marker);
            int existing = totals.FindIndex(t => t.Label == _marks[i].Label);
            if (existing >= 0) totals[existing] = (_marks[i].Label, totals[existing].Time + elapsed);
            else totals.Add((_marks[i].Label, elapsed));
        }
        return totals;
    }

    /// <summary>Forgets every mark.</summary>
    public void Clear()
    {
        foreach (var (_, marker) in _marks) marker.Dispose();
        _marks.Clear();
    }

    /// <inheritdoc/>
    public void Dispose() => Clear();
}
