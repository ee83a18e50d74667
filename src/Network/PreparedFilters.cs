using ILGPU;
using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Weights;

namespace IlgpuStyle.Network;

/// <summary>One filter a layer's direction reads instead of W (<see cref="Conv2d.OwnFilters"/>), by layer.</summary>
/// <param name="Layer">The conv layer, e.g. <c>conv3_2</c>.</param>
/// <param name="Key">Which of the layer's filters.</param>
/// <param name="Floats">Its length.</param>
public readonly record struct PlannedFilter(string Layer, FilterKey Key, long Floats);

/// <summary>
/// The filters the convolutions read prepared instead of W (Winograd's transformed U and U', the host code's W
/// packed in strips: <see cref="Conv2d.OwnFilters"/>), made once and read by every network that runs the same
/// variant: the style targets' networks and the objective's own, and, held by a run, every scale's. A filter
/// depends on the layer's weights, the direction, the variant and the tile, not on the image size, and making
/// one per network cost a coarse-to-fine run more than its first scale's evaluations: two networks a scale, each
/// writing hundreds of megabytes of fresh memory (2.9 million 3x3 filters transformed in double precision).
/// </summary>
/// <remarks>
/// An objective holds the filters its plan lists (<see cref="ObjectivePlan.Filters"/>), counted once in its
/// weights: its own, allocated first in its memory, or a run's, which <see cref="Hold(ObjectivePlan)"/> makes the
/// plan's before the objective is built: it keeps those made for an earlier scale that this one reads, frees the
/// others and makes the rest. A network finds its layers' filters here (<see cref="Find"/>) and allocates none.
/// </remarks>
public sealed class PreparedFilters
{
    private readonly KernelSet _kernels;
    private readonly DeviceMemory _memory;
    private readonly Dictionary<(string Layer, FilterKey Key), MemoryBuffer1D<float, Stride1D.Dense>> _made = [];
    private readonly PreparedFilters? _held; // a style capture's: the objective's filters, read where not made here

    /// <summary>An empty store for filters of <paramref name="weights"/>, allocated in <paramref name="memory"/>.
    /// </summary>
    public PreparedFilters(KernelSet kernels, VggWeights weights, DeviceMemory memory)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(memory);
        _kernels = kernels;
        Weights = weights;
        _memory = memory;
    }

    /// <summary>The weights every filter is made from.</summary>
    public VggWeights Weights { get; }

    /// <summary>How many filters have been made since the store was created (each once).</summary>
    public int Made { get; private set; }

    /// <summary>Device bytes of the filters held now.</summary>
    public long Bytes => _made.Values.Sum(b => b.LengthInBytes);

    /// <summary>
    /// Holds exactly the filters <paramref name="plan"/> lists (<see cref="ObjectivePlan.Filters"/>): frees those it
    /// does not read, keeps the rest and makes the missing ones, in the plan's order.
    /// </summary>
    /// <exception cref="ArgumentException">A plan made for other weights.</exception>
    public void Hold(ObjectivePlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (!plan.PlannedFor(Weights))
            throw new ArgumentException("The plan was made for other weights than the filters'.", nameof(plan));
        Hold(plan.Filters);
    }

    /// <summary>Holds exactly <paramref name="filters"/> (a network's, <see cref="NetworkPlan.Filters"/>, planned
    /// with these weights), as <see cref="Hold(ObjectivePlan)"/>.</summary>
    public void Hold(IEnumerable<PlannedFilter> filters)
    {
        var wanted = filters.ToList();
        var keys = wanted.Select(f => (f.Layer, f.Key)).ToHashSet();
        foreach (var stale in _made.Keys.Where(k => !keys.Contains(k)).ToList())
        {
            _memory.Free(_made[stale]);
            _made.Remove(stale);
        }
        foreach (var filter in wanted.Where(f => !_made.ContainsKey((f.Layer, f.Key)))) Make(filter);
    }

    /// <summary>
    /// These filters and, beside them, those of <paramref name="filters"/> they do not hold, made in
    /// <paramref name="memory"/>: a style image's network, whose layers may pick another tile at its size than the
    /// image's (<see cref="ObjectivePlan.StyleFilters"/>), made within its capture's scope, which frees them.
    /// </summary>
    public PreparedFilters Beside(IEnumerable<PlannedFilter> filters, DeviceMemory memory)
    {
        var beside = new PreparedFilters(_kernels, Weights, memory, this);
        foreach (var filter in filters.Where(f => !Holds(f))) beside.Make(filter);
        return beside;
    }

    private PreparedFilters(KernelSet kernels, VggWeights weights, DeviceMemory memory, PreparedFilters held)
        : this(kernels, weights, memory) => _held = held;

    private bool Holds(PlannedFilter filter) =>
        _made.ContainsKey((filter.Layer, filter.Key)) || _held?.Holds(filter) == true;

    /// <summary>Allocates one filter and makes it from the weights.</summary>
    private void Make(PlannedFilter filter)
    {
        var conv = Weights[filter.Layer];
        var shape = Conv2dShape.Vgg(conv.InChannels, 1, 1, conv.OutChannels); // the size does not matter
        var buffer = _memory.Floats(filter.Floats);
        _kernels.Conv.MakeFilter(buffer.View, shape, conv.Weight, filter.Key);
        _made[(filter.Layer, filter.Key)] = buffer;
        Made++;
    }

    /// <summary>The filter of <paramref name="layer"/> that <paramref name="key"/> names, held.</summary>
    /// <exception cref="InvalidOperationException">Not held: the network was not in the plan the filters hold.
    /// </exception>
    public ArrayView<float> Find(string layer, FilterKey key) =>
        _made.TryGetValue((layer, key), out var buffer) ? buffer.View
        : _held is not null ? _held.Find(layer, key)
        : throw new InvalidOperationException($"No prepared filter of {layer} for {key}: the network is not in the " +
                                              "plan the filters hold.");
}
