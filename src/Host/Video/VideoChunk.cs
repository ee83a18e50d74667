namespace IlgpuStyle.Host;

/// <summary>
/// A shard's part of a video: the contiguous frames <see cref="First"/> to <see cref="Last"/> (from 1) that it keeps,
/// and before them the warm-up frames from <see cref="Start"/> that it renders and discards. Frame t starts from the
/// stylised frame t - 1, so a chunk that started cold at its first frame would show a seam: a frame stylised alone
/// (its own pattern of brush strokes) after one that followed its predecessors. The warm-up frames let the chunk's
/// strokes settle into what the frames before would have handed on; the shard that renders them for real keeps its
/// own. The chunks are the same for every task of an array: they depend on the frame count, the shard and the
/// warm-up alone.
/// </summary>
/// <param name="First">The first frame this shard keeps.</param>
/// <param name="Last">The last frame it keeps.</param>
/// <param name="Start">The first frame it renders: <see cref="First"/> less the warm-up (not before frame 1).</param>
internal sealed record VideoChunk(int First, int Last, int Start)
{
    /// <summary>Whether <paramref name="frame"/> is rendered only to warm the chunk up.</summary>
    public bool IsWarmup(int frame) => frame < First;

    /// <summary>
    /// Shard <paramref name="shard"/>'s chunk of <paramref name="count"/> frames: the frames are shared out in
    /// contiguous chunks whose lengths differ by at most one, in shard order; null when there are more shards than
    /// frames and this one has none.
    /// </summary>
    public static VideoChunk? Of(Shard shard, int count, int warmup)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        int first = (int)((long)shard.Index * count / shard.Count) + 1;
        int last = (int)((long)(shard.Index + 1) * count / shard.Count);
        return last < first ? null : new VideoChunk(first, last, Math.Max(1, first - warmup));
    }
}
