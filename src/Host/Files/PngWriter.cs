using System.Buffers.Binary;
using System.IO.Compression;
using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Host;

/// <summary>
/// A small PNG encoder for what StbImageWriteSharp cannot write: 16 bits per sample (RGB, or RGBA with the
/// content's alpha). PNG 1.2 (ISO/IEC 15948): the signature, an IHDR chunk, the zlib-compressed scanlines
/// in IDAT, IEND; every chunk is big-endian length, type, data, and the CRC-32 of type and data. Samples are
/// big-endian; each scanline starts with its filter type (1, Sub: each byte minus the one a pixel to its
/// left, which suits smooth images).
/// </summary>
internal static class PngWriter
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>
    /// Writes <paramref name="image"/> (values 0-255, clamped here) as a 16-bit PNG: each value v becomes
    /// <c>round(v * 65535 / 255)</c>, so the 8-bit levels land exactly on 257 * level and nothing is rounded
    /// to 8 bits on the way. <paramref name="alpha"/> (8-bit, one per pixel) is written as 257 * alpha.
    /// </summary>
    public static void Write16(Stream stream, FloatRgbImage image, byte[]? alpha)
    {
        int channels = alpha is null ? 3 : 4;
        if (alpha is not null && alpha.Length != image.Width * image.Height)
            throw new ArgumentException("One alpha value per pixel.", nameof(alpha));
        int rowBytes = image.Width * channels * 2;
        int pixelBytes = channels * 2;

        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), image.Height);
        header[8] = 16;                          // bit depth
        header[9] = (byte)(alpha is null ? 2 : 6); // colour type: truecolour, or truecolour with alpha
        // 10-12: compression 0 (deflate), filter method 0, no interlace.

        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            var row = new byte[rowBytes];
            var filtered = new byte[rowBytes + 1];
            filtered[0] = 1; // Sub
            for (int y = 0; y < image.Height; y++)
            {
                for (int x = 0; x < image.Width; x++)
                {
                    int at = x * pixelBytes;
                    for (int c = 0; c < 3; c++)
                        BinaryPrimitives.WriteUInt16BigEndian(row.AsSpan(at + 2 * c),
                            ToSixteen(image.Pixels[(y * image.Width + x) * 3 + c]));
                    if (alpha is not null)
                    {
                        BinaryPrimitives.WriteUInt16BigEndian(row.AsSpan(at + 6),
                            (ushort)(alpha[y * image.Width + x] * 257));
                    }
                }
                for (int i = 0; i < rowBytes; i++)
                    filtered[i + 1] = (byte)(row[i] - (i >= pixelBytes ? row[i - pixelBytes] : 0));
                zlib.Write(filtered);
            }
        }

        stream.Write(Signature);
        WriteChunk(stream, "IHDR"u8, header);
        WriteChunk(stream, "IDAT"u8, compressed.ToArray());
        WriteChunk(stream, "IEND"u8, []);
    }

    /// <summary>A 0-255 value on the 16-bit scale, clamped and rounded.</summary>
    public static ushort ToSixteen(float value) =>
        (ushort)Math.Clamp(Math.Round(value * (65535.0 / 255.0)), 0, 65535);

    private static void WriteChunk(Stream stream, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        stream.Write(word);
        stream.Write(type);
        stream.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc(Crc(0xFFFFFFFFu, type), data) ^ 0xFFFFFFFFu);
        stream.Write(word);
    }

    /// <summary>The CRC-32 of PNG (and zlib's crc32: polynomial 0xEDB88320, reflected), continued over
    /// <paramref name="data"/> from the running value <paramref name="crc"/>.</summary>
    public static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
