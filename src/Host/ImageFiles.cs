using IlgpuStyle.Network.Images;
using StbImageSharp;
using StbImageWriteSharp;

namespace IlgpuStyle.Host;

/// <summary>Reading and writing images (JPEG, PNG, BMP, TGA, GIF, PSD in; PNG or JPEG out).</summary>
internal static class ImageFiles
{
    /// <summary>The output formats, by file extension.</summary>
    public static readonly string[] WritableExtensions = [".png", ".jpg", ".jpeg"];

    /// <summary>
    /// Decodes an image to 8-bit RGB: gray is replicated to three channels and alpha dropped
    /// (SPEC.md, "Preprocessing"), which is what asking the decoder for RGB does.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="role">What the image is for, for messages ("content image", ...).</param>
    public static RgbImage Load(string path, string role)
    {
        if (!File.Exists(path))
            throw new UsageException($"The {role} '{path}' does not exist. Check the path.");
        ImageResult image;
        try
        {
            using var stream = File.OpenRead(path);
            image = ImageResult.FromStream(stream, StbImageSharp.ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IOException or UnauthorizedAccessException or IndexOutOfRangeException or NullReferenceException)
        {
            throw new UsageException($"The {role} '{path}' could not be read as an image ({e.Message.TrimEnd('.')}). Use a JPEG, PNG, BMP or TGA file.");
        }
        if (image is null || image.Data is null || image.Width <= 0 || image.Height <= 0)
            throw new UsageException($"The {role} '{path}' could not be read as an image. Use a JPEG, PNG, BMP or TGA file.");
        return new RgbImage(image.Width, image.Height, image.Data);
    }

    /// <summary>Throws unless <paramref name="path"/> has an extension we can write and a folder we can write into.</summary>
    public static void CheckWritable(string path, string role)
    {
        string extension = Path.GetExtension(path).ToLowerInvariant();
        if (!WritableExtensions.Contains(extension))
            throw new UsageException($"The {role} '{path}' must end in .png, .jpg or .jpeg.");
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder))
            throw new UsageException($"The folder of the {role}, '{folder}', does not exist. Create it or choose another path.");
        string probe = Path.Combine(folder, $".ilgpu-style-probe-{Environment.ProcessId}");
        try
        {
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"Cannot write the {role} into '{folder}': {e.Message}");
        }
    }

    /// <summary>
    /// Encodes by extension (PNG, or JPEG at quality 95) into a temporary file beside the target,
    /// then renames it over the target: a reader never sees a half-written image.
    /// </summary>
    public static void SaveAtomically(RgbImage image, string path)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var stream = File.Create(temp))
            {
                var writer = new ImageWriter();
                if (Path.GetExtension(full).Equals(".png", StringComparison.OrdinalIgnoreCase))
                    writer.WritePng(image.Pixels, image.Width, image.Height, StbImageWriteSharp.ColorComponents.RedGreenBlue, stream);
                else
                    writer.WriteJpg(image.Pixels, image.Width, image.Height, StbImageWriteSharp.ColorComponents.RedGreenBlue, stream, 95);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
