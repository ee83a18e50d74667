using IlgpuStyle.Network.Images;
using OpenCvSharp;

namespace IlgpuStyle.Host;

/// <summary>
/// What a video's input holds, found by decoding it once before anything is rendered: how many frames can be used
/// (the first ones up to the first problem), their size and rate, and the problem, if any, in one line naming the
/// frame: a truncated file, a frame that does not decode, a frame whose size changes.
/// </summary>
/// <param name="Count">Frames 1 to Count decode and have one size.</param>
/// <param name="Width">Their width.</param>
/// <param name="Height">Their height.</param>
/// <param name="Fps">Frames per second (the file's; 25 for a folder of images, as ffmpeg assumes).</param>
/// <param name="Problem">Why frame Count + 1 and after cannot be used; null when every frame can.</param>
internal sealed record VideoInput(int Count, int Width, int Height, double Fps, string? Problem);

/// <summary>
/// A video's frames, read in order: from a video file (OpenCV's <see cref="VideoCapture"/>, FFmpeg inside) or from a
/// folder of images (PNG or JPEG) taken in the order of their names, so frame_0001.png, frame_0002.png, ...
/// </summary>
internal sealed class VideoFrames(string path)
{
    /// <summary>Images a folder of frames may hold.</summary>
    private static readonly string[] FrameExtensions = [".png", ".jpg", ".jpeg"];

    /// <summary>The input as the user gave it.</summary>
    public string Path { get; } = path;

    private bool IsFolder => Directory.Exists(Path);

    /// <summary>Decodes every frame once and says which can be used; a missing or unreadable input throws a
    /// <see cref="UsageException"/>.</summary>
    public VideoInput Scan()
    {
        if (!IsFolder && !File.Exists(Path))
            throw new UsageException($"The video '{Path}' does not exist (give a video file or a folder of frames).");
        int count = 0, width = 0, height = 0;
        string? problem = null;
        foreach (var (number, name, image, error) in Read())
        {
            if (error is not null)
            {
                problem = error;
                break;
            }
            if (count == 0) (width, height) = (image!.Width, image.Height);
            else if (image!.Width != width || image.Height != height)
            {
                problem = $"frame {number} ({name}) is {image.Width}x{image.Height} where the frames before are " +
                          $"{width}x{height}: a video has one frame size";
                break;
            }
            count = number;
        }
        if (count == 0)
            throw new UsageException($"No frame of '{Path}' could be used: {problem ?? "it has no frames"}.");
        return new VideoInput(count, width, height, IsFolder ? 25 : FileFps(), problem);
    }

    /// <summary>Frames 1 to <paramref name="count"/>, decoded in order (the scan has found them good).</summary>
    public IEnumerable<RgbImage> Frames(int count)
    {
        foreach (var (number, name, image, error) in Read())
        {
            if (number > count) yield break;
            yield return image ?? throw new IOException($"frame {number} ({name}) could not be read again: {error}");
        }
    }

    /// <summary>Each frame in order with its number (from 1), its name, and its image or why it has none; the
    /// sequence ends after the first frame without one.</summary>
    private IEnumerable<(int Number, string Name, RgbImage? Image, string? Problem)> Read() =>
        IsFolder ? ReadFolder() : ReadFile();

    private IEnumerable<(int, string, RgbImage?, string?)> ReadFolder()
    {
        var files = Directory.EnumerateFiles(Path)
            .Where(f => FrameExtensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToList();
        for (int k = 0; k < files.Count; k++)
        {
            string name = System.IO.Path.GetFileName(files[k]);
            RgbImage? image = null;
            string? problem = null;
            try
            {
                image = ImageFiles.Load(files[k], "frame");
            }
            catch (Exception e) when (e is UsageException or IOException or UnauthorizedAccessException)
            {
                problem = $"frame {k + 1}: {e.Message.TrimEnd('.')}";
            }
            yield return (k + 1, name, image, problem);
            if (problem is not null) yield break;
        }
    }

    private IEnumerable<(int, string, RgbImage?, string?)> ReadFile()
    {
        using var capture = new VideoCapture(Path);
        if (!capture.IsOpened())
        {
            yield return (1, "frame 1", null, "it cannot be opened as a video (not a video, or a format this " +
                                              "build of FFmpeg does not read)");
            yield break;
        }
        int announced = capture.FrameCount; // from the container's header or index
        using var frame = new Mat();
        int number = 0;
        while (capture.Read(frame) && !frame.Empty())
        {
            number++;
            yield return (number, $"frame {number}", OpenCv.Image(frame), null);
        }
        if (number < announced)
        {
            yield return (number + 1, $"frame {number + 1}", null, $"the file is truncated or damaged: frame " +
                $"{number + 1} of the {announced} its header announces does not decode");
        }
    }

    private double FileFps()
    {
        using var capture = new VideoCapture(Path);
        double fps = capture.Fps;
        return fps > 0 && double.IsFinite(fps) ? fps : 25;
    }

    /// <summary>The codec a video file is written with, from its extension; a <see cref="UsageException"/> for one
    /// that is neither .avi nor .mp4 (checked before anything is rendered).</summary>
    public static FourCC Codec(string path) => System.IO.Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".avi" => FourCC.MJPG,
        ".mp4" => FourCC.FromString("mp4v"), // lower case, the tag an MP4 holds (FFmpeg warns at "MP4V")
        _ => throw new UsageException($"The video '{path}' must be an .avi or an .mp4."),
    };

    /// <summary>
    /// Writes <paramref name="frames"/> as a video file, atomically: into a temporary file beside
    /// <paramref name="path"/>, renamed over it when complete. An .avi holds Motion JPEG (every frame a JPEG, as
    /// every build of FFmpeg writes it), an .mp4 MPEG-4 part 2.
    /// </summary>
    public static void Write(string path, IEnumerable<RgbImage> frames, double fps, int width, int height)
    {
        string full = System.IO.Path.GetFullPath(path);
        string extension = System.IO.Path.GetExtension(full).ToLowerInvariant();
        var codec = Codec(path);
        string temp = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(full)!,
            $".{System.IO.Path.GetFileNameWithoutExtension(full)}.{Environment.ProcessId}.tmp{extension}");
        try
        {
            using (var writer = new VideoWriter(temp, codec, fps, new Size(width, height)))
            {
                if (!writer.IsOpened()) throw new IOException($"FFmpeg could not open '{temp}' for writing");
                foreach (var image in frames)
                {
                    using var bgr = OpenCv.Bgr(image);
                    writer.Write(bgr);
                }
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
