using IlgpuStyle.Network.Images;
using StbImageSharp;
using StbImageWriteSharp;

namespace IlgpuStyle.Host;

/// <summary>Reading and writing images (JPEG, PNG, BMP, TGA, GIF, PSD in; PNG or JPEG out).</summary>
internal static class ImageFiles
{
    /// <summary>The output formats, by file extension.</summary>
    public static readonly string[] WritableExtensions = [".png", ".jpg", ".jpeg"];

    private const string UseAnImage = "Use a JPEG, PNG, BMP or TGA file.";

    /// <summary>
    /// Decodes an image to 8-bit RGB: gray is replicated to three channels and alpha dropped
    /// (SPEC.md, "Preprocessing"), which is what asking the decoder for RGB does. A file whose data
    /// ends early is refused (the decoder would fill the rest), and a JPEG is turned upright as its
    /// EXIF orientation says.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="role">What the image is for, for messages ("content image", ...).</param>
    public static RgbImage Load(string path, string role)
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
            image = ImageResult.FromMemory(data, StbImageSharp.ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException
                                      or NullReferenceException or OverflowException)
        {
            throw new UsageException(
                $"The {role} '{path}' could not be read as an image{DecoderReason(e)}. {UseAnImage}");
        }
        if (image is null || image.Data is null || image.Width <= 0 || image.Height <= 0)
            throw new UsageException($"The {role} '{path}' could not be read as an image. {UseAnImage}");
        var stored = new RgbImage(image.Width, image.Height, image.Data);
        return ExifOrientation.ToUpright(stored, ImageFileStructure.Orientation(data));
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

    /// <summary>
    /// Encodes by extension (PNG, or JPEG at quality 95) into a temporary file beside the target,
    /// then renames it over the target: a reader never sees a half-written image.
    /// </summary>
    public static void SaveAtomically(RgbImage image, string path)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!,
            $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        const StbImageWriteSharp.ColorComponents Rgb = StbImageWriteSharp.ColorComponents.RedGreenBlue;
        try
        {
            using (var stream = File.Create(temp))
            {
                var writer = new ImageWriter();
                if (Path.GetExtension(full).Equals(".png", StringComparison.OrdinalIgnoreCase))
                    writer.WritePng(image.Pixels, image.Width, image.Height, Rgb, stream);
                else
                    writer.WriteJpg(image.Pixels, image.Width, image.Height, Rgb, stream, 95);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
