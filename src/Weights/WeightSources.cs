using IlgpuStyle.Weights.Caffe;
using IlgpuStyle.Weights.Pth;

namespace IlgpuStyle.Weights;

/// <summary>
/// Opens a weights file of any supported format, telling the format from its first bytes rather than its name.
/// </summary>
public static class WeightSources
{
    /// <summary>
    /// Detects the format (zip signature: torch zip; pickle PROTO opcode: torch legacy; a
    /// <c>NetParameter</c> field tag: Caffe) and lists the file's tensors without reading their data.
    /// Throws <see cref="ConverterException"/> with a one-line message naming the file.
    /// </summary>
    public static WeightSource Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Guard(path, () =>
        {
            byte[] head = new byte[16];
            int length;
            using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
                length = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            var start = head.AsSpan(0, length);

            if (length == 0)
                throw new SourceFormatException("the file is empty");
            return Kind(start) switch
            {
                SourceFileKind.PthZip => PthFile.OpenZip(path),
                SourceFileKind.PthLegacy => PthFile.OpenLegacy(path),
                SourceFileKind.Caffe => CaffeModelFile.Open(path),
                _ => throw new SourceFormatException("not a PyTorch .pth or Caffe .caffemodel file (starts with " +
                                                     $"bytes {Convert.ToHexString(start[..Math.Min(8, length)])})"),
            };
        });
    }

    /// <summary>
    /// What a file is, by its first bytes, in words for a message (<c>a PyTorch .pth file</c>), or null when it is
    /// none of the formats the converter reads: the console asks this of a <c>--weights</c> file it cannot load, to
    /// say "convert it" rather than that its header is impossible.
    /// </summary>
    public static string? Recognise(string path)
    {
        byte[] head = new byte[16];
        int length;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            length = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return length == 0 ? null : Kind(head.AsSpan(0, length)) switch
        {
            SourceFileKind.PthZip or SourceFileKind.PthLegacy => "a PyTorch .pth file",
            SourceFileKind.Caffe => "a Caffe .caffemodel file",
            _ => null,
        };
    }

    /// <summary>The formats the converter reads, told apart by their first bytes.</summary>
    private enum SourceFileKind
    {
        Unknown,
        PthZip,
        PthLegacy,
        Caffe,
    }

    /// <summary>The zip signature (torch since 1.6), the pickle PROTO opcode (older torch), or a Caffe
    /// <c>NetParameter</c> field tag.</summary>
    private static SourceFileKind Kind(ReadOnlySpan<byte> start) =>
        start.StartsWith("PK\x03\x04"u8) ? SourceFileKind.PthZip
        : start[0] == 0x80 ? SourceFileKind.PthLegacy // the first byte of every protocol >= 2 pickle
        : CaffeModelFile.LooksLikeNetParameter(start) ? SourceFileKind.Caffe
        : SourceFileKind.Unknown;

    /// <summary>
    /// Runs a reader step and turns every way a malformed file can fail into one
    /// <see cref="ConverterException"/> that starts with the path.
    /// </summary>
    internal static T Guard<T>(string path, Func<T> step)
    {
        try
        {
            return step();
        }
        catch (SourceFormatException e)
        {
            throw new ConverterException($"{path}: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw new ConverterException($"{path}: truncated: the file ends early", e);
        }
        catch (InvalidDataException e)
        {
            throw new ConverterException($"{path}: corrupt data ({OneLine(e.Message)})", e);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ConverterException($"{path}: no such file", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConverterException($"{path}: cannot read: {OneLine(e.Message)}", e);
        }
        catch (OverflowException e)
        {
            throw new ConverterException($"{path}: a size in the file is out of range", e);
        }
    }

    internal static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
