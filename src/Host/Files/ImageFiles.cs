using IlgpuStyle.Network.Images;
using StbImageSharp;
using StbImageWriteSharp;
using IlgpuStyle.Weights.Files;

namespace IlgpuStyle.Host;

/// <summary>Reading and writing images (JPEG, PNG, BMP, TGA, GIF, PSD in; PNG or JPEG out).</summary>
internal static class ImageFiles
{
    /// <summary>The output formats, by file extension.</summary>
    public static readonly string[] WritableExtensions = [".png", ".jpg", ".jpeg"];

    private const string UseAnImage = "Use a JPEG, PNG, BMP, TGA, GIF or PSD file.";

    /// <summary>
    /// Decodes an image to 8-bit RGB: gray is replicated to three channels and alpha dropped
    /// (SPEC.md, "Preprocessing"), which is what asking the decoder for RGB does. A file whose data
    /// ends early is refused (the decoder would fill the rest), and a JPEG is turned upright as its
    /// EXIF orientation says.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="role">What the image is for, for messages ("content image", ...).</param>
    public static RgbImage Load(string path, string role) => LoadWithAlpha(path, role, keepAlpha: false).Image;

    /// <summary>
    /// <see cref="Load"/>, and the image's alpha channel (one byte per pixel, upright like the image) when the
    /// file has one (gray with alpha, RGBA) and <paramref name="keepAlpha"/> asks for it; else null. The content
    /// image's alpha is what the output keeps (issue 16, "Output keeps what the input had").
    /// </summary>
    public static (RgbImage Image, byte[]? Alpha) LoadWithAlpha(string path, string role, bool keepAlpha = true)
    {
        if (Directory.Exists(path))
            throw new UsageException($"The {role} '{path}' is a folder, not an image file. {UseAnImage}");
        if (!File.Exists(path))
            throw new UsageException($"The {role} '{path}' does not exist. Check the path.");
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"The {role} '{path}' cannot be read: {e.Message}");
        }
        if (ImageFileStructure.Truncation(data) is { } cut)
            throw new UsageException($"The {role} '{path}' is incomplete: {cut}. Copy or download it again.");
        ImageResult image;
        try
        {
            image = ImageResult.FromMemory(data, keepAlpha
                ? StbImageSharp.ColorComponents.RedGreenBlueAlpha
                : StbImageSharp.ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException
                                      or NullReferenceException or OverflowException)
        {
            throw new UsageException(
                $"The {role} '{path}' could not be read as an image{DecoderReason(e)}. {UseAnImage}");
        }
        if (image is null || image.Data is null || image.Width <= 0 || image.Height <= 0)
            throw new UsageException($"The {role} '{path}' could not be read as an image. {UseAnImage}");
        int orientation = ImageFileStructure.Orientation(data);
        if (!keepAlpha)
            return (ExifOrientation.ToUpright(new RgbImage(image.Width, image.Height, image.Data), orientation), null);

        // Asked for RGBA, the decoder gives 4 bytes per pixel; they split into RGB and alpha.
        int n = image.Width * image.Height;
        var rgb = new byte[n * 3];
        var alpha = new byte[n * 3]; // as a grey image, so that it turns upright (and resizes) like the colours
        for (int i = 0; i < n; i++)
        {
            rgb[i * 3] = image.Data[i * 4];
            rgb[i * 3 + 1] = image.Data[i * 4 + 1];
            rgb[i * 3 + 2] = image.Data[i * 4 + 2];
            alpha[i * 3] = alpha[i * 3 + 1] = alpha[i * 3 + 2] = image.Data[i * 4 + 3];
        }
        var upright = ExifOrientation.ToUpright(new RgbImage(image.Width, image.Height, rgb), orientation);
        bool hasAlpha = image.SourceComp is StbImageSharp.ColorComponents.GreyAlpha
            or StbImageSharp.ColorComponents.RedGreenBlueAlpha;
        if (!hasAlpha) return (upright, null);
        var alphaImage = ExifOrientation.ToUpright(new RgbImage(image.Width, image.Height, alpha), orientation);
        return (upright, GreyChannel(alphaImage));
    }

    /// <summary>
    /// <paramref name="alpha"/> (one byte per pixel of a <paramref name="width"/> x <paramref name="height"/>
    /// image) resampled to <paramref name="toWidth"/> x <paramref name="toHeight"/> with the filter the colours
    /// get (<see cref="ImageResize.Resize"/>), so edges stay where the colours' edges are.
    /// </summary>
    public static byte[] ResizeAlpha(byte[] alpha, int width, int height, int toWidth, int toHeight)
    {
        var grey = new byte[alpha.Length * 3];
        for (int i = 0; i < alpha.Length; i++) grey[i * 3] = grey[i * 3 + 1] = grey[i * 3 + 2] = alpha[i];
        return GreyChannel(ImageResize.Resize(new RgbImage(width, height, grey), toWidth, toHeight));
    }

    private static byte[] GreyChannel(RgbImage grey)
    {
        var channel = new byte[grey.Width * grey.Height];
        for (int i = 0; i < channel.Length; i++) channel[i] = grey.Pixels[i * 3];
        return channel;
    }

    /// <summary>
    /// The decoder's own words, in parentheses, when they are words: StbImageSharp's messages are
    /// short reasons ("bad huffman code"), but a corrupt file can put its own bytes into them.
    /// </summary>
    private static string DecoderReason(Exception e)
    {
        string reason = new string(e.Message.Where(c => !char.IsControl(c)).ToArray()).Trim().TrimEnd('.');
        return reason.Length > 0 && reason.Any(char.IsLetter) && e is InvalidOperationException ? $" ({reason})" : "";
    }

    /// <summary>Throws unless <paramref name="path"/> ends in an extension we can write.</summary>
    public static void CheckExtension(string path, string role)
    {
        string extension = Path.GetExtension(path).ToLowerInvariant();
        if (!WritableExtensions.Contains(extension))
            throw new UsageException($"The {role} '{path}' must end in .png, .jpg or .jpeg.");
    }

    /// <summary>Whether <paramref name="path"/> is written as a PNG (else JPEG).</summary>
    public static bool IsPng(string path) => Path.GetExtension(path).Equals(".png", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Encodes by extension (PNG, or JPEG at quality 95) into a temporary file beside the target,
    /// then renames it over the target: a reader never sees a half-written image.
    /// </summary>
    public static void SaveAtomically(RgbImage image, string path) =>
        SaveAtomically(FloatRgbImage.From(image), path, bitDepth: 8, alpha: null);

    /// <summary>
    /// <see cref="SaveAtomically(RgbImage, string)"/> of an unrounded result: rounded to 8 bits, or with
    /// <paramref name="bitDepth"/> 16 written as a 16-bit PNG straight from the values (<see cref="PngWriter"/>).
    /// <paramref name="alpha"/> (one byte per pixel) makes a PNG RGBA; a JPEG has no alpha and leaves it out
    /// (the run says so before it starts).
    /// </summary>
    public static void SaveAtomically(FloatRgbImage image, string path, int bitDepth, byte[]? alpha)
    {
        if (bitDepth is not (8 or 16)) throw new ArgumentOutOfRangeException(nameof(bitDepth), bitDepth, "8 or 16.");
        bool png = IsPng(path);
        if (bitDepth == 16 && !png) throw new ArgumentException("A 16-bit image must be a PNG.", nameof(path));
        string full = FileIdentity.OutputPath(path); // where the checks looked
        string temp = Path.Combine(Path.GetDirectoryName(full)!,
            $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var stream = File.Create(temp))
            {
                var writer = new ImageWriter();
                var rgb = image.ToBytes().Pixels;
                if (bitDepth == 16)
                {
                    PngWriter.Write16(stream, image, alpha);
                }
                else if (png && alpha is not null)
                {
                    writer.WritePng(Interleave(rgb, alpha), image.Width, image.Height,
                        StbImageWriteSharp.ColorComponents.RedGreenBlueAlpha, stream);
                }
                else if (png)
                {
                    writer.WritePng(rgb, image.Width, image.Height, StbImageWriteSharp.ColorComponents.RedGreenBlue,
                        stream);
                }
                else
                {
                    writer.WriteJpg(rgb, image.Width, image.Height, StbImageWriteSharp.ColorComponents.RedGreenBlue,
                        stream, 95);
                }
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>RGB bytes and one alpha byte per pixel as RGBA.</summary>
    private static byte[] Interleave(byte[] rgb, byte[] alpha)
    {
        var rgba = new byte[alpha.Length * 4];
        for (int i = 0; i < alpha.Length; i++)
        {
            rgba[i * 4] = rgb[i * 3];
            rgba[i * 4 + 1] = rgb[i * 3 + 1];
            rgba[i * 4 + 2] = rgb[i * 3 + 2];
            rgba[i * 4 + 3] = alpha[i];
        }
        return rgba;
    }
}
