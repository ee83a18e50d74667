namespace IlgpuStyle.Network;

/// <summary>
/// The autodiff of this project, micrograd at layer granularity: the forward pass records, per
/// layer, a closure that computes that layer's input gradient from its output gradient; the
/// backward pass replays the closures in reverse order.
/// </summary>
/// <remarks>
/// VGG is a chain, so a list is enough: no graph, no topological sort. Loss taps record closures
/// too (identity layers whose backward adds their loss gradient to the one flowing down). The
/// closures are created once when the network is built, each with the buffers it reads and writes,
/// so the tape replays on its own, and an evaluation (which only records them) allocates nothing.
/// Profiling wraps the tape from outside (<see cref="LayerProfiler.Replay"/>).
/// </remarks>
public sealed class Tape
{
    private readonly List<TapeEntry> _entries = [];

    /// <summary>
    /// The recorded entries, in forward order (<see cref="LayerProfiler.Replay"/> replays them itself).
    /// </summary>
    public IReadOnlyList<TapeEntry> Entries => _entries;

    /// <summary>Names of the recorded entries, in forward order (for tests and for reading).</summary>
    public IEnumerable<string> Names => _entries.Select(e => e.Name);

    /// <summary>Forgets the last pass (keeps the list's capacity).</summary>
    public void Clear() => _entries.Clear();

    /// <summary>Records one layer's backward closure.</summary>
    public void Record(string name, Action backward) => _entries.Add(new TapeEntry(name, backward));

    /// <summary>Runs the recorded closures from the last to the first.</summary>
    public void Backward()
    {
        for (int i = _entries.Count - 1; i >= 0; i--)
            _entries[i].Backward();
    }
}

/// <summary>One step of the tape: a label and the closure that computes a layer's input gradient.</summary>
/// <param name="Name">What the step is, e.g. <c>conv3_1</c> or <c>StyleLoss@relu3_1</c>.</param>
/// <param name="Backward">The closure, built once with the buffers it reads and writes.</param>
public readonly record struct TapeEntry(string Name, Action Backward);
