namespace IlgpuStyle.Network;

/// <summary>
/// The autodiff of this project, micrograd at layer granularity: the forward pass records, per
/// layer, a closure that computes that layer's input gradient from its output gradient; the
/// backward pass replays the closures in reverse order.
/// </summary>
/// <remarks>
/// VGG is a chain, so a list is enough: no graph, no topological sort. Loss taps record closures
/// too (identity layers whose backward adds their loss gradient to the one flowing down). The
/// closures are created once when the network is built and only recorded per evaluation, so an
/// evaluation allocates nothing.
/// </remarks>
public sealed class Tape
{
    private readonly List<(string Name, Action Backward)> _entries = [];

    /// <summary>Names of the recorded entries, in forward order (for tests and for reading).</summary>
    public IEnumerable<string> Names => _entries.Select(e => e.Name);

    /// <summary>Forgets the last pass (keeps the list's capacity).</summary>
    public void Clear() => _entries.Clear();

    /// <summary>Records one layer's backward closure.</summary>
    public void Record(string name, Action backward) => _entries.Add((name, backward));

    /// <summary>When set, each backward entry is timed on the device under the label "name backward".</summary>
    public LayerProfiler? Profiler { get; set; }

    /// <summary>Runs the recorded closures from the last to the first.</summary>
    public void Backward()
    {
        for (int i = _entries.Count - 1; i >= 0; i--)
        {
            Profiler?.Mark(_entries[i].Name + " backward");
            _entries[i].Backward();
        }
    }
}
