using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Tests.Network;

/// <summary>Preprocessing conventions and resizing (SPEC.md, "Preprocessing").</summary>
public sealed class ImageTests
{
    private static RgbImage Gradient(int width, int height)
    {
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            pixels[(y * width + x) * 3 + 0] = (byte)(x * 255 / Math.Max(1, width - 1));
            pixels[(y * width + x) * 3 + 1] = (byte)(y * 255 / Math.Max(1, height - 1));
            pixels[(y * width + x) * 3 + 2] = (byte)((x + y) % 256);
        }
        return new RgbImage(width, height, pixels);
    }

    [Test]
    public void CaffePreprocessingIsBgrMinusTheMean()
    {
        var image = new RgbImage(1, 1, [10, 20, 30]);
        var x = Preprocessing.Caffe.ToNetworkInput(image);
        Assert.That(x, Is.EqualTo(new[] { 30 - 103.939f, 20 - 116.779f, 10 - 123.68f }).Within(1e-4));
    }

    [Test]
    public void TorchvisionPreprocessingIsNormalizedRgb()
    {
        var image = new RgbImage(1, 1, [10, 20, 30]);
        var x = Preprocessing.Torchvision.ToNetworkInput(image);
        Assert.That(x, Is.EqualTo(new[] { (10 / 255f - 0.485f) / 0.229f,
            (20 / 255f - 0.456f) / 0.224f, (30 / 255f - 0.406f) / 0.225f }).Within(1e-5));
    }

    [Test]
    public void DeprocessingInvertsClampsAndRounds([Values("caffe", "torchvision")] string convention)
    {
        var p = Preprocessing.FromName(convention);
        var image = Gradient(7, 5);
        var back = p.ToImage(p.ToNetworkInput(image), 7, 5);
        Assert.That(back.Pixels, Is.EqualTo(image.Pixels), "round trip");

        var x = p.ToNetworkInput(image);
        for (int i = 0; i < 3; i++) x[i * 35] = 1e6f;          // far above white
        for (int i = 0; i < 3; i++) x[i * 35 + 1] = -1e6f;     // far below black
        var clamped = p.ToImage(x, 7, 5);
        Assert.That(clamped.Pixels[..6], Is.EqualTo(new byte[] { 255, 255, 255, 0, 0, 0 }));
    }

    [Test]
    public void TheChannelRangeIsWhereBlackAndWhiteGo([Values("caffe", "torchvision")] string convention)
    {
        var p = Preprocessing.FromName(convention);
        var black = p.ToNetworkInput(new RgbImage(1, 1, [0, 0, 0]));
        var white = p.ToNetworkInput(new RgbImage(1, 1, [255, 255, 255]));
        for (int c = 0; c < 3; c++)
            Assert.That(p.ChannelRange(c), Is.EqualTo((black[c], white[c])), $"channel {c}");
        if (convention == "caffe")
            Assert.That(p.ChannelRange(0).Low, Is.EqualTo(-103.939f), "channel 0 is blue, minus its mean");
    }

    [Test]
    public void AnImageAlreadyTheRightSizeIsNotResampled()
    {
        var image = Gradient(40, 30);
        Assert.That(ImageResize.ToLongerSide(image, 40), Is.SameAs(image));
    }

    [Test]
    public void ResizingKeepsTheAspectRatioAndTheLongerSide()
    {
        var wide = ImageResize.ToLongerSide(Gradient(1024, 768), 512);
        Assert.That((wide.Width, wide.Height), Is.EqualTo((512, 384)));
        var tall = ImageResize.ToLongerSide(Gradient(196, 313), 100);
        Assert.That((tall.Width, tall.Height), Is.EqualTo((63, 100)));
        var up = ImageResize.ToLongerSide(Gradient(10, 5), 40);
        Assert.That((up.Width, up.Height), Is.EqualTo((40, 20)));
    }

    [Test]
    public void ShrinkingAveragesEveryPixelInsteadOfSkippingSome()
    {
        // Every fourth column white, the rest black, shrunk 4x: each output pixel covers one white
        // column in four, so it must come out at a quarter of white (about 64). Plain bilinear
        // sampling reads only the two input columns nearest each centre (1 and 2 of every 4),
        // both black, and would give 0: the thin lines would vanish. (Border pixels, where the filter is
        // clipped, land between 45 and 73.)
        var pixels = new byte[64 * 64 * 3];
        for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++)
            for (int c = 0; c < 3; c++) pixels[(y * 64 + x) * 3 + c] = (byte)(x % 4 == 0 ? 255 : 0);
        var small = ImageResize.Resize(new RgbImage(64, 64, pixels), 16, 16);
        Assert.That(small.Pixels.Min(), Is.GreaterThanOrEqualTo((byte)40));
        Assert.That(small.Pixels.Max(), Is.LessThanOrEqualTo((byte)80));
    }

    [Test]
    public void AConstantImageStaysConstantAtAnySize()
    {
        var pixels = Enumerable.Repeat((byte)77, 13 * 9 * 3).ToArray();
        var image = new RgbImage(13, 9, pixels);
        foreach (var (w, h) in new[] { (5, 3), (26, 18), (13, 4), (1, 1) })
            Assert.That(ImageResize.Resize(image, w, h).Pixels.Distinct(), Is.EqualTo(new byte[] { 77 }), $"{w}x{h}");
    }
}
