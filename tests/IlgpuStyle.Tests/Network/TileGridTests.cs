using IlgpuStyle.Kernels;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Tiling;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Tests.Support;

namespace IlgpuStyle.Tests.Network;

/// <summary>
/// The geometry of tiled evaluation (shapes only, no device): every feature position of every used layer is
/// owned by exactly one tile, and everything an owned position depends on lies in its tile's region.
/// </summary>
public sealed class TileGridTests
{
    private static IEnumerable<TestCaseData> Grids()
    {
        // (architecture, layers, height, width, core): sizes that are not multiples of the stride, remainders
        // shorter than a stride (joined to the core before) and longer (a last tile that is mostly halo), a
        // grid tiled along one axis only.
        yield return Case("vgg19", ["relu3_2", "relu1_1", "relu2_1"], 61, 53, 8);
        yield return Case("vgg19", ["relu3_1"], 101, 67, 12);
        yield return Case("vgg19", ["relu4_2", "relu1_1", "relu3_1", "relu4_1"], 203, 97, 16);
        yield return Case("vgg16", ["relu4_2", "relu2_1"], 131, 45, 24);
        yield return Case("vgg19", ["relu5_1", "relu4_2", "relu1_1"], 517, 389, 128);
        yield return Case("vgg16", ["relu5_1"], 300, 170, 40);
        yield return Case("vgg19", ["relu1_2"], 11, 300, 5);
        yield return Case("vgg19", ["relu2_2", "relu1_1"], 63, 64, 4);
    }

    private static TestCaseData Case(string arch, string[] layers, int height, int width, int core) =>
        new TestCaseData(arch, layers, height, width, core)
            .SetArgDisplayNames(arch, string.Join(",", layers), $"{width}x{height}", $"core {core}");

    [TestCaseSource(nameof(Grids))]
    public void OwnedPositionsCoverEveryFeatureExactlyOnce(string arch, string[] layers, int height, int width,
        int core)
    {
        var architecture = VggArchitecture.Find(arch)!;
        var grid = TileGrid.For(architecture, layers, height, width, core);
        Assert.That(grid.IsSingle, Is.False, $"the case must tile: {grid}");
        foreach (string layer in layers)
        {
            int stride = architecture.Stride(layer);
            int shift = architecture.Block(layer) - 1;
            int layerHeight = height >> shift, layerWidth = width >> shift;
            var count = new int[layerHeight, layerWidth];
            foreach (var tile in grid.Tiles)
            {
                var owned = grid.Owned(tile, stride);
                for (int y = owned.Y; y < owned.Bottom; y++)
                for (int x = owned.X; x < owned.Right; x++)
                    count[y, x]++;
            }
            for (int y = 0; y < layerHeight; y++)
            for (int x = 0; x < layerWidth; x++)
                Assert.That(count[y, x], Is.EqualTo(1), $"{layer} position ({x}, {y}) of {grid}");
        }
    }

    [TestCaseSource(nameof(Grids))]
    public void EveryOwnedPositionSeesOnlyItsRegionAndEveryRegionHasTheSameAlignedShape(string arch,
        string[] layers, int height, int width, int core)
    {
        var architecture = VggArchitecture.Find(arch)!;
        var grid = TileGrid.For(architecture, layers, height, width, core);
        foreach (var tile in grid.Tiles)
        {
            var region = tile.Region;
            Assert.That((region.Height, region.Width),
                Is.EqualTo((grid.LargestTile.Height, grid.LargestTile.Width)), "one network serves every tile");
            Assert.That(region.Y % grid.Stride == 0 && region.X % grid.Stride == 0, Is.True, $"{region} aligned");
            Assert.That(region.Y >= 0 && region.X >= 0 && region.Bottom <= height && region.Right <= width, Is.True,
                $"{region} inside the image");
            foreach (string layer in layers)
            {
                int stride = architecture.Stride(layer);
                int radius = architecture.ReceptiveRadius(layer);
                var owned = grid.Owned(tile, stride);
                if (owned.IsEmpty) continue;
                // The pixels the owned positions read, clipped only where the image ends.
                int top = owned.Y * stride - radius, bottom = owned.Bottom * stride + radius;
                int left = owned.X * stride - radius, right = owned.Right * stride + radius;
                Assert.That(top >= region.Y || region.Y == 0, Is.True, $"{layer} top of {tile}");
                Assert.That(left >= region.X || region.X == 0, Is.True, $"{layer} left of {tile}");
                Assert.That(bottom <= region.Bottom || region.Bottom == height, Is.True, $"{layer} bottom of {tile}");
                Assert.That(right <= region.Right || region.Right == width, Is.True, $"{layer} right of {tile}");
            }
        }
    }

    [Test]
    public void HaloAndStrideFollowTheDeepestLayer()
    {
        var vgg19 = VggArchitecture.Vgg19;
        Assert.Multiple(() =>
        {
            Assert.That(vgg19.ReceptiveRadius("relu5_1"), Is.EqualTo(70));
            Assert.That(vgg19.ReceptiveRadius("relu4_2"), Is.EqualTo(38));
            Assert.That(VggArchitecture.Vgg16.ReceptiveRadius("relu5_1"), Is.EqualTo(58));
            var grid = TileGrid.For(vgg19, ["relu1_1", "relu5_1", "relu4_2"], 1000, 700, 250);
            Assert.That((grid.Stride, grid.Halo, grid.Core), Is.EqualTo((16, 80, 240)));
            Assert.That(vgg19.Stride(vgg19.Deepest(["relu4_2", "relu2_1"])), Is.EqualTo(8));
            Assert.That(TileGrid.HaloFor(vgg19, "relu4_2"), Is.EqualTo(40), "38 rounded up to the stride 8");
            // 1000 = 4 * 240 + 40: a remainder of 40 >= 16 is a row of its own.
            Assert.That((grid.Rows, grid.Columns), Is.EqualTo((5, 3)));
        });
    }

    /// <summary>The objective's grid follows only the layers whose loss has a weight.</summary>
    [Test]
    public void TheObjectivesGridIgnoresLayersWithoutWeight()
    {
        var weights = TinyVgg.Create();
        var styleOnly = new IlgpuStyle.Network.StyleOptions
        {
            ContentLayers = ["relu5_1"], StyleLayers = ["relu2_1", "relu3_1"], ContentWeight = 0f,
        };
        var cpu = new KernelChoice(new AcceleratorDescription(ILGPU.Runtime.AcceleratorType.CPU, 1, false, "CPU"));
        ObjectivePlan Plan(IlgpuStyle.Network.StyleOptions options) =>
            Objectives.Plan(weights, cpu, new ChwShape(3, 100, 90), [new ChwShape(3, 30, 30)], options, tileCore: 20);
        var grid = Plan(styleOnly).Tiles!.Grid;
        Assert.That((grid.Stride, grid.Halo), Is.EqualTo((4, 12)), "relu3_1: stride 4, radius 2 + 4 + 4");
        Assert.That(Plan(styleOnly with { StyleWeight = 0f }).IsTiled, Is.False,
            "no loss reads a layer: nothing to tile");
    }

    [Test]
    public void ACoreThatCoversTheImageLeavesItWhole()
    {
        var grid = TileGrid.For(VggArchitecture.Vgg19, ["relu4_2"], 100, 60, 512);
        Assert.That(grid.IsSingle, Is.True);
        Assert.That(grid.LargestTile, Is.EqualTo(new ChwShape(3, 100, 60)));
        // Regions that would need the whole axis anyway: no tiling along it either.
        Assert.That(TileGrid.For(VggArchitecture.Vgg19, ["relu5_1"], 150, 150, 64).IsSingle, Is.True);
    }
}
