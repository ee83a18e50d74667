using IlgpuStyle.Host;
using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// The optical-flow maths the project owns (issue 26): warping, Ruder et al.'s reliability weights (disocclusions,
/// motion boundaries, points that enter the picture), the long-term weights and their merge into one target, and the
/// chunks a sharded video is split into. Hand-made flows whose answers are known; no OpenCV.
/// </summary>
public sealed class FlowTests
{
    /// <summary>An 11x7 image whose every pixel differs (R from x, G from y, B from both).</summary>
    private static RgbImage Ramp(int width = 11, int height = 7)
    {
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int i = (y * width + x) * 3;
                (pixels[i], pixels[i + 1], pixels[i + 2]) = ((byte)(20 * x), (byte)(30 * y), (byte)(7 * x + 11 * y));
            }
        }
        return new RgbImage(width, height, pixels);
    }

    private static byte[] Pixel(RgbImage image, int x, int y)
    {
        int first = (y * image.Width + x) * 3;
        return image.Pixels[first..(first + 3)];
    }

    [Test]
    public void AWholePixelFlowWarpsByCopyingAndAHalfPixelOneAverages()
    {
        var image = Ramp();
        var shifted = FlowField.Uniform(11, 7, 2, -1).Warp(image); // out(x, y) = image(x + 2, y - 1)
        var half = FlowField.Uniform(11, 7, 0.5f, 0).Warp(image);
        Assert.Multiple(() =>
        {
            for (int y = 1; y < 7; y++)
            {
                for (int x = 0; x < 9; x++)
                    Assert.That(Pixel(shifted, x, y), Is.EqualTo(Pixel(image, x + 2, y - 1)), $"({x}, {y})");
            }
            Assert.That(Pixel(shifted, 10, 3), Is.EqualTo(Pixel(image, 10, 2)), "beyond the right edge: the edge");
            Assert.That(Pixel(half, 4, 2)[0], Is.EqualTo(90), "R halfway between 80 and 100");
            Assert.That(Pixel(half, 4, 2)[2], Is.EqualTo((byte)Math.Round(7 * 4.5 + 22)), "B halfway");
        });
    }

    [Test]
    public void APanIsReliableExceptWhereItsPointsEnterThePicture()
    {
        // The window moves 3 px right a frame: pixel x of frame t is pixel x + 3 of frame t - 1.
        var backward = FlowField.Uniform(11, 7, 3, 0);
        var forward = FlowField.Uniform(11, 7, -3, 0);
        var c = FlowReliability.Weights(backward, forward);
        Assert.Multiple(() =>
        {
            for (int y = 0; y < 7; y++)
            {
                for (int x = 0; x < 11; x++)
                    Assert.That(c[y * 11 + x], Is.EqualTo(x + 3 <= 10 ? 1f : 0f), $"({x}, {y})");
            }
        });
    }

    [Test]
    public void FlowsThatDisagreeMarkADisocclusion()
    {
        // Ruder et al.'s test: |w̃ + ŵ|² > 0.01 (|w̃|² + |ŵ|²) + 0.5. With ŵ = 0 the followed flow is w itself:
        // 0.7 px of forward motion is consistent enough (0.49 < 0.5049), 0.8 px is not (0.64 > 0.5064).
        var backward = FlowField.Uniform(9, 5, 0, 0);
        var u = new float[45];
        u[2 * 9 + 3] = 0.7f;
        u[2 * 9 + 5] = 0.8f;
        var forward = new FlowField(9, 5, u, new float[45]);
        var c = FlowReliability.Weights(backward, forward);
        Assert.Multiple(() =>
        {
            Assert.That(c[2 * 9 + 3], Is.EqualTo(1f), "0.7 px: within the tolerance");
            Assert.That(c[2 * 9 + 5], Is.EqualTo(0f), "0.8 px: a disocclusion");
            Assert.That(c.Count(w => w == 0), Is.EqualTo(1), "nothing else");
        });
    }

    [Test]
    public void AStepInTheFlowIsAMotionBoundary()
    {
        // Left half still, right half moving 2 px up in both directions' terms (consistent): only the columns
        // beside the step, where the central difference sees it, are a boundary.
        const int w = 12, h = 6;
        var bu = new float[w * h];
        var bv = new float[w * h];
        var fv = new float[w * h];
        for (int y = 0; y < h; y++)
        {
            for (int x = 6; x < w; x++)
            {
                bv[y * w + x] = -2;
                fv[y * w + x] = 2;
            }
        }
        var c = FlowReliability.Weights(new FlowField(w, h, bu, bv), new FlowField(w, h, new float[w * h], fv));
        Assert.Multiple(() =>
        {
            for (int y = 2; y < h; y++) // rows 0-1 on the right land above the frame
            {
                for (int x = 0; x < w; x++)
                    Assert.That(c[y * w + x], Is.EqualTo(x is 5 or 6 ? 0f : 1f), $"({x}, {y})");
            }
            Assert.That(c[0 * w + 8], Is.Zero, "lands above the frame");
            Assert.That(c[1 * w + 8], Is.Zero, "lands above the frame");
        });
    }

    [Test]
    public void LongTermWeightsGiveEachPixelToTheNearestFrameThatSawIt()
    {
        float[] near = [1, 0, 0, 1, 0];
        float[] middle = [1, 1, 0, 0, 0];
        float[] far = [1, 1, 1, 1, 0];
        var longTerm = FlowReliability.LongTerm([near, middle, far]);
        Assert.Multiple(() =>
        {
            Assert.That(longTerm[0], Is.EqualTo(near), "the nearest keeps its own");
            Assert.That(longTerm[1], Is.EqualTo(new float[] { 0, 1, 0, 0, 0 }), "max(c - nearer, 0)");
            Assert.That(longTerm[2], Is.EqualTo(new float[] { 0, 0, 1, 0, 0 }));
        });

        var images = new[] { 10, 20, 30 }.Select(v => new RgbImage(5, 1, Enumerable.Repeat((byte)v, 15).ToArray()))
            .ToList();
        var (target, m) = FlowReliability.Merge(images, longTerm);
        Assert.Multiple(() =>
        {
            Assert.That(m, Is.EqualTo(new float[] { 1, 1, 1, 1, 0 }));
            Assert.That(target.Pixels.Where((_, i) => i % 3 == 0), Is.EqualTo(new byte[] { 10, 20, 30, 10, 10 }),
                "each pixel from its frame; an unreliable one from the nearest (weight 0)");
        });
    }

    [TestCase(10, 3, 2)]
    [TestCase(7, 7, 0)]
    [TestCase(100, 4, 5)]
    [TestCase(5, 3, 10)]
    public void ChunksCoverEveryFrameOnceInOrderAfterTheirWarmup(int frames, int shards, int warmup)
    {
        var chunks = Enumerable.Range(0, shards).Select(i => VideoChunk.Of(new Shard(i, shards, "test"), frames,
            warmup)).ToList();
        var kept = chunks.Where(c => c is not null).SelectMany(c => Enumerable.Range(c!.First, c.Last - c.First + 1));
        Assert.Multiple(() =>
        {
            Assert.That(kept, Is.EqualTo(Enumerable.Range(1, frames)), "every frame once, in shard order");
            foreach (var c in chunks.Where(c => c is not null))
            {
                Assert.That(c!.Start, Is.EqualTo(Math.Max(1, c.First - warmup)), "the warm-up before the chunk");
                Assert.That(c.Last - c.First + 1, Is.InRange(frames / shards, frames / shards + 1), "even lengths");
            }
        });
    }

    [Test]
    public void MoreShardsThanFramesLeaveTheLastOnesEmpty()
    {
        Assert.That(VideoChunk.Of(new Shard(0, 4, "test"), 2, 1), Is.Null, "shard 0 of 4 over 2 frames");
        Assert.That(VideoChunk.Of(new Shard(3, 4, "test"), 2, 1), Is.EqualTo(new VideoChunk(2, 2, 1)));
    }
}
