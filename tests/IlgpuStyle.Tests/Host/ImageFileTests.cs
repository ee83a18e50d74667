using System.Buffers.Binary;
using IlgpuStyle.Host;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Tests.Support;
using StbImageWriteSharp;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// Reading image files: a file whose data ends early is an error naming the file (the decoder
/// alone fills the rest with grey), and a JPEG's EXIF orientation turns it upright.
/// </summary>
public sealed class ImageFileTests
{
    private string _folder = "";

    [SetUp]
    public void CreateFolder() => _folder = HostFiles.NewFolder("images");

    /// <summary>A 160 x 120 image of smooth colour with noise, so a JPEG of it has a long scan.</summary>
    private static byte[] Noisy(int width, int height)
    {
        var random = new Random(3);
        var pixels = new byte[width * height * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i % 251 / 2 + random.Next(128));
        return pixels;
    }

    private static byte[] Encode(Action<ImageWriter, Stream> write)
    {
        using var stream = new MemoryStream();
        write(new ImageWriter(), stream);
        return stream.ToArray();
    }

    private static byte[] Jpeg(byte[] pixels, int width, int height) =>
        Encode((w, s) => w.WriteJpg(pixels, width, height, ColorComponents.RedGreenBlue, s, 90));

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private void AssertIncomplete(string name, byte[] bytes, string format)
    {
        string path = Write(name, bytes);
        var e = Assert.Throws<UsageException>(() => ImageFiles.Load(path, "content image"));
        Assert.That(e!.Message,
            Does.StartWith($"The content image '{path}' is incomplete: it ends before the {format}"));
    }

    /// <summary>Cut after its first kilobyte, or without only its last bytes, a JPEG is refused.</summary>
    [TestCase(1024)]
    [TestCase(-1)]
    [TestCase(-2)]
    [TestCase(-600)]
    public void AJpegCutShortIsAnErrorNamingTheFile(int keep)
    {
        byte[] whole = Jpeg(Noisy(160, 120), 160, 120);
        int length = keep > 0 ? keep : whole.Length + keep;
        Assert.That(ImageFiles.Load(Write("whole.jpg", whole), "content image").Width, Is.EqualTo(160));
        AssertIncomplete("cut.jpg", whole[..length], "JPEG's end-of-image marker");
    }

    /// <summary>
    /// A segment whose length field is shorter than the field itself (0 or 1) is damage, not a crash.
    /// </summary>
    [TestCase(0)]
    [TestCase(1)]
    public void AJpegSegmentWithAnImpossibleLengthIsAnErrorNamingTheFile(int length)
    {
        string path = Write("damaged.jpg", [0xFF, 0xD8, 0xFF, 0xE1, 0x00, (byte)length, 0x00, 0x00, 0xFF, 0xD9]);
        var e = Assert.Throws<UsageException>(() => ImageFiles.Load(path, "content image"));
        Assert.That(e!.Message, Does.StartWith($"The content image '{path}'").And.Not.Contain("\n"));
    }

    [Test]
    public void AJpegWithBytesAfterItsEndLoads()
    {
        byte[] whole = Jpeg(Noisy(40, 30), 40, 30);
        string path = Write("trailing.jpg", [.. whole, .. "camera maker's trailer"u8.ToArray()]);
        Assert.That(ImageFiles.Load(path, "style image").Height, Is.EqualTo(30));
    }

    /// <summary>
    /// The shared photographs and paintings decode to their size and colours: the mean of each channel as
    /// libjpeg-turbo's <c>djpeg</c> (and, for the PNG, a separate PNG reader) decode them, within half a grey level
    /// (JPEG decoders may differ by one level in a few pixels, never on average), and the first pixel within 2.
    /// A decoder that drops rows, swaps channels or stops early fails here.
    /// </summary>
    [TestCase("tubingen.jpg", 1024, 768, 103.31, 115.23, 120.44, 52, 83, 114)]
    [TestCase("starry_night.jpg", 1024, 640, 86.26, 113.87, 125.42, 9, 24, 81)]
    [TestCase("the_scream.jpg", 1200, 1528, 112.8, 83.52, 53.8, 194, 174, 124)]
    [TestCase("shipwreck.jpg", 960, 662, 78.49, 85.87, 59.58, 101, 105, 80)]
    [TestCase("starry_night_crop.png", 196, 313, 75.38, 104.01, 116.97, 28, 50, 101)]
    public void ThePaintingsOfTheSharedFolderLoadWhole(string name, int width, int height, double meanRed,
        double meanGreen, double meanBlue, int firstRed, int firstGreen, int firstBlue)
    {
        var image = ImageFiles.Load(SharedFolder.Require("images/" + name), "style image");
        Assert.That((image.Width, image.Height), Is.EqualTo((width, height)));
        double[] means = Enumerable.Range(0, 3)
            .Select(c => Enumerable.Range(0, width * height).Average(i => (double)image.Pixels[3 * i + c])).ToArray();
        Assert.That(means, Is.EqualTo(new[] { meanRed, meanGreen, meanBlue }).Within(0.5), "mean of each channel");
        Assert.That(image.Pixels[..3].Select(b => (int)b), Is.EqualTo(new[] { firstRed, firstGreen, firstBlue })
            .Within(2), "the top-left pixel");
    }

    [Test]
    public void APngCutShortIsAnError([Values(0.5, 0.9)] double fraction)
    {
        byte[] whole = Encode((w, s) => w.WritePng(Noisy(64, 48), 64, 48, ColorComponents.RedGreenBlue, s));
        string error = Assert.Throws<UsageException>(() =>
            ImageFiles.Load(Write("cut.png", whole[..(int)(whole.Length * fraction)]), "style image"))!.Message;
        Assert.That(error, Does.Contain("cut.png'").And.Contain("style image"));
    }

    [Test]
    public void APngWithoutItsEndChunkIsAnError()
    {
        byte[] whole = Encode((w, s) => w.WritePng(Noisy(64, 48), 64, 48, ColorComponents.RedGreenBlue, s));
        AssertIncomplete("noend.png", whole[..^12], "PNG's end chunk");
    }

    [Test]
    public void ABmpCutShortIsAnError()
    {
        byte[] whole = Encode((w, s) => w.WriteBmp(Noisy(50, 40), 50, 40, ColorComponents.RedGreenBlue, s));
        Assert.That(ImageFiles.Load(Write("whole.bmp", whole), "content image").Width, Is.EqualTo(50));
        AssertIncomplete("cut.bmp", whole[..(whole.Length - 150)], "BMP's last row of pixels");
    }

    /// <summary>StbImageWrite writes run-length-encoded TGA; both kinds are walked to their last pixel.</summary>
    [Test]
    public void ATgaCutShortIsAnError()
    {
        byte[] whole = Encode((w, s) => w.WriteTga(Noisy(50, 40), 50, 40, ColorComponents.RedGreenBlue, s));
        Assert.That(whole[2], Is.EqualTo(10), "run-length encoded");
        Assert.That(ImageFiles.Load(Write("whole.tga", whole), "content image").Width, Is.EqualTo(50));
        AssertIncomplete("cut.tga", whole[..(whole.Length - 100)], "TGA's last pixel");

        byte[] raw = [.. whole[..18], .. Noisy(50, 40)];
        raw[2] = 2; // uncompressed true-colour
        Assert.That(ImageFiles.Load(Write("raw.tga", raw), "content image").Height, Is.EqualTo(40));
        AssertIncomplete("rawcut.tga", raw[..^3], "TGA's last pixel");
    }

    /// <summary>
    /// A grey GIF of <paramref name="width"/> x <paramref name="height"/> with a 256-grey palette, its LZW codes
    /// all 9 bits (a clear code every 254 pixels keeps them so): pixel i is <c>i % 251</c>.
    /// </summary>
    private static byte[] Gif(int width, int height)
    {
        var file = new List<byte>("GIF89a"u8.ToArray());
        file.AddRange([(byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8), 0xF7, 0, 0]);
        for (int i = 0; i < 256; i++) file.AddRange([(byte)i, (byte)i, (byte)i]);
        file.AddRange([0x2C, 0, 0, 0, 0, (byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8), 0, 8]);
        var codes = new List<int>();
        for (int i = 0; i < width * height; i++)
        {
            if (i % 254 == 0) codes.Add(256); // clear
            codes.Add(i % 251);
        }
        codes.Add(257); // end of information
        var stream = new List<byte>();
        int bits = 0, count = 0;
        foreach (int code in codes)
        {
            bits |= code << count;
            for (count += 9; count >= 8; count -= 8, bits >>= 8) stream.Add((byte)bits);
        }
        if (count > 0) stream.Add((byte)bits);
        foreach (var chunk in stream.Chunk(255)) file.AddRange([(byte)chunk.Length, .. chunk]);
        file.AddRange([0, 0x3B]);
        return [.. file];
    }

    /// <summary>A GIF that ends inside its image's data is refused; GIF is read (its first image).</summary>
    [Test]
    public void AGifCutShortIsAnError()
    {
        byte[] whole = Gif(50, 40);
        var image = ImageFiles.Load(Write("whole.gif", whole), "content image");
        Assert.That((image.Width, image.Height, image.Pixels[3 * 7]), Is.EqualTo((50, 40, (byte)7)));
        AssertIncomplete("cut.gif", whole[..(whole.Length / 2)], "GIF's first image ends");
        AssertIncomplete("nodata.gif", whole[..(13 + 768 + 5)], "GIF's first image ends");
    }

    /// <summary>A raw 8-bit RGB PSD (version 1, no resources or layers) of 50 x 40, each channel a plane, or the
    /// same run-length encoded (every row one literal packet).</summary>
    private static byte[] Psd(bool rle)
    {
        const int Width = 50, Height = 40;
        var file = new List<byte>("8BPS"u8.ToArray());
        file.AddRange([0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, Height, 0, 0, 0, Width, 0, 8, 0, 3]);
        file.AddRange(new byte[12]); // colour mode data, image resources, layers: empty
        file.AddRange([0, (byte)(rle ? 1 : 0)]);
        var rows = Enumerable.Range(0, 3 * Height)
            .Select(row => Enumerable.Range(0, Width).Select(x => (byte)(row + x)).ToArray()).ToList();
        if (!rle)
        {
            foreach (var row in rows) file.AddRange(row);
            return [.. file];
        }
        // A literal packet: a header n (0..127) and n + 1 bytes; 50 bytes are one packet of 51.
        foreach (var _ in rows) file.AddRange([0, Width + 1]);
        foreach (var row in rows) file.AddRange([Width - 1, .. row]);
        return [.. file];
    }

    /// <summary>A PSD that ends before its composite image does is refused, raw and run-length encoded.</summary>
    [TestCase(false)]
    [TestCase(true)]
    public void APsdCutShortIsAnError(bool rle)
    {
        byte[] whole = Psd(rle);
        var image = ImageFiles.Load(Write("whole.psd", whole), "content image");
        Assert.That((image.Width, image.Height, image.Pixels[3]), Is.EqualTo((50, 40, (byte)1)));
        AssertIncomplete("cut.psd", whole[..^10], "PSD's last row of pixels");
    }

    [Test]
    public void AFolderGivenAsAnImageSaysItIsAFolder()
    {
        var e = Assert.Throws<UsageException>(() => ImageFiles.Load(_folder, "style image"));
        Assert.That(e!.Message,
            Is.EqualTo($"The style image '{_folder}' is a folder, not an image file. "
                       + "Use a JPEG, PNG, BMP, TGA, GIF or PSD file."));
    }

    /// <summary>
    /// A 3 x 2 image (a b c / d e f) shown upright for each EXIF orientation, as EXIF 2.3 defines
    /// them by which side row 0 and column 0 show.
    /// </summary>
    [TestCase(1, 3, "abc" + "def")]
    [TestCase(2, 3, "cba" + "fed")]
    [TestCase(3, 3, "fed" + "cba")]
    [TestCase(4, 3, "def" + "abc")]
    [TestCase(5, 2, "ad" + "be" + "cf")]
    [TestCase(6, 2, "da" + "eb" + "fc")]
    [TestCase(7, 2, "fc" + "eb" + "da")]
    [TestCase(8, 2, "cf" + "be" + "ad")]
    public void EveryExifOrientationTurnsTheImageUpright(int orientation, int width, string upright)
    {
        var stored = new RgbImage(3, 2, "abcdef".SelectMany(c => new[] { (byte)c, (byte)0, (byte)0 }).ToArray());
        var image = ExifOrientation.ToUpright(stored, orientation);
        Assert.That(image.Width, Is.EqualTo(width));
        string shown = new(Enumerable.Range(0, 6).Select(i => (char)image.Pixels[3 * i]).ToArray());
        Assert.That(shown, Is.EqualTo(upright));
    }

    /// <summary>
    /// A phone photo held upright: a landscape JPEG (red top-left, green top-right, blue bottom-left,
    /// white bottom-right) with EXIF orientation 6 comes out portrait, turned clockwise.
    /// </summary>
    [Test]
    public void APortraitPhonePhotoComesOutUpright([Values(true, false)] bool littleEndian)
    {
        const int W = 64, H = 32;
        var pixels = new byte[W * H * 3];
        for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
        {
            byte[] colour = (x < W / 2, y < H / 2) switch
            {
                (true, true) => [255, 0, 0],
                (false, true) => [0, 255, 0],
                (true, false) => [0, 0, 255],
                _ => [255, 255, 255],
            };
            colour.CopyTo(pixels, (y * W + x) * 3);
        }
        string path = Write("phone.jpg", WithExifOrientation(Jpeg(pixels, W, H), 6, littleEndian));

        var image = ImageFiles.Load(path, "content image");

        Assert.That((image.Width, image.Height), Is.EqualTo((H, W)));
        byte[] At(int x, int y) => image.Pixels.AsSpan((y * image.Width + x) * 3, 3).ToArray();
        Assert.That(At(H - 8, 8), Is.EqualTo(new byte[] { 255, 0, 0 }).Within(24), "red top-left turns to top right");
        Assert.That(At(H - 8, W - 8), Is.EqualTo(new byte[] { 0, 255, 0 }).Within(24), "green: to bottom right");
        Assert.That(At(8, 8), Is.EqualTo(new byte[] { 0, 0, 255 }).Within(24), "blue bottom-left turns to top left");
        Assert.That(At(8, W - 8), Is.EqualTo(new byte[] { 255, 255, 255 }).Within(24));
    }

    /// <summary>Inserts an APP1 "Exif" segment with one Orientation entry right after the JPEG's SOI marker.</summary>
    private static byte[] WithExifOrientation(byte[] jpeg, int orientation, bool littleEndian)
    {
        var tiff = new byte[8 + 2 + 12 + 4];
        void U16(int at, int v)
        {
            if (littleEndian) BinaryPrimitives.WriteUInt16LittleEndian(tiff.AsSpan(at), (ushort)v);
            else BinaryPrimitives.WriteUInt16BigEndian(tiff.AsSpan(at), (ushort)v);
        }
        void U32(int at, uint v)
        {
            if (littleEndian) BinaryPrimitives.WriteUInt32LittleEndian(tiff.AsSpan(at), v);
            else BinaryPrimitives.WriteUInt32BigEndian(tiff.AsSpan(at), v);
        }
        tiff[0] = tiff[1] = (byte)(littleEndian ? 'I' : 'M');
        U16(2, 42);
        U32(4, 8);          // the first directory follows the header
        U16(8, 1);          // one entry
        U16(10, 274);       // Orientation
        U16(12, 3);         // SHORT
        U32(14, 1);         // one value
        U16(18, orientation);
        byte[] payload = [.. "Exif\0\0"u8.ToArray(), .. tiff];
        var segment = new byte[4 + payload.Length];
        segment[0] = 0xFF;
        segment[1] = 0xE1;
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), (ushort)(payload.Length + 2));
        payload.CopyTo(segment, 4);
        return [.. jpeg[..2], .. segment, .. jpeg[2..]];
    }
}
