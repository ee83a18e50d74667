using System.Collections.Concurrent;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Network.Losses;

/// <summary>
/// The exact roots of one network's Wasserstein-2 taps (<see cref="W2StyleLoss"/>), found together once the last
/// of them has formed its Sigma in the forward pass: the largest taps side by side on the run's cores, each on its
/// share of them, rather than one after the other on every core.
/// </summary>
/// <remarks>
/// Why side by side: an eigendecomposition shares out poorly over cores. Its reduction hands over between them at
/// each of its n steps, so two cores make a 512 x 512 decomposition about 1.75x faster, not 2x, and a whole
/// 512-channel root (P, the decomposition, the transport) about 1.6x. On two cores VGG-19's two 512-channel layers
/// (relu4_1, relu5_1) take one core each, after the smaller layers have run on both (beside the large ones, a
/// small one would leave a core idle for as long as it takes). The results are the same to the bit however the
/// cores are shared: the products and the decomposition do not depend on their number. The device is used only on
/// the caller's thread, before and after (reading each Sigma, adding each loss); the worker threads do host
/// arithmetic alone.
/// </remarks>
/// <param name="kernels">The run's kernels: its accelerator, and its cores (<c>Host.Threads</c>).</param>
public sealed class W2ExactRoots(KernelSet kernels)
{
    private readonly HashSet<W2StyleLoss> _arrived = [];
    private readonly List<W2StyleLoss> _exact = [];
    private int _members;

    /// <summary>Counts a tap into the group (when it is made).</summary>
    internal void Join() => _members++;

    /// <summary>
    /// A tap's forward pass has formed its Sigma (and, off the exact path, added its loss). When every tap of the
    /// group has arrived, the exact ones' roots are found side by side and their losses added, marked as one piece
    /// with <paramref name="markPiece"/> (the bench's profiler). A tap that arrives twice starts a new round: the
    /// last one did not finish (its evaluation was abandoned).
    /// </summary>
    internal void Arrive(W2StyleLoss tap, bool exact, Action<string>? markPiece)
    {
        if (!_arrived.Add(tap))
        {
            _arrived.Clear();
            _exact.Clear();
            _arrived.Add(tap);
        }
        if (exact) _exact.Add(tap);
        if (_arrived.Count < _members) return;
        try
        {
            if (_exact.Count > 0) Solve(markPiece);
        }
        finally
        {
            _arrived.Clear();
            _exact.Clear();
        }
    }

    private void Solve(Action<string>? markPiece)
    {
        markPiece?.Invoke($"roots of {string.Join(", ", _exact.Select(t => t.Layer))}, side by side");
        kernels.Accelerator.Synchronize();
        foreach (var tap in _exact) tap.ReadCovariance();
        // The smallest taps beyond one per core first, each on every core; then the rest side by side, each on its
        // share of the cores (on two cores: relu3_1 and relu2_1, then relu4_1 beside relu5_1).
        int threads = kernels.Host.Threads;
        var bySize = _exact.OrderBy(t => t.Channels).ToList();
        int first = Math.Max(0, bySize.Count - threads);
        foreach (var tap in bySize.Take(first)) tap.SolveExact(threads);
        var sideBySide = bySize.Skip(first).ToList();
        int each = Math.Max(1, threads / sideBySide.Count);
        Parallel.ForEach(Partitioner.Create(sideBySide, EnumerablePartitionerOptions.NoBuffering),
            new ParallelOptions { MaxDegreeOfParallelism = sideBySide.Count }, tap => tap.SolveExact(each));
        foreach (var tap in _exact) tap.AddExactLoss();
        markPiece?.Invoke("forward");
    }
}
