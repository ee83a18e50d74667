using System.Buffers.Binary;
using System.IO.Compression;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// A PNG's samples as they are stored (8 or 16 bits, truecolour with or without alpha), read independently of
/// the encoders under test: chunks with their CRCs checked, IDAT inflated, every filter type undone
/// (PNG 1.2, section 9). StbImageSharp only gives 8 bits, which would hide a 16-bit encoder's rounding.
/// </summary>
internal sealed record PngSamples(int Width, int Height, int BitDepth, int Channels, int[] Samples)
{
    /// <summary>Sample c of pixel (x, y).</summary>
    public int At(int x, int y, int c) => Samples[(y * Width + x) * Channels + c];

    /// <summary>Reads a PNG file.</summary>
    public static PngSamples Read(string path)
    {
        var data = File.ReadAllBytes(path);
        Assert.That(data.AsSpan(0, 8).SequenceEqual(new byte[] { 0x89, 80, 78, 71, 13, 10, 26, 10 }), "signature");
        int width = 0, height = 0, depth = 0, colourType = -1;
        using var idat = new MemoryStream();
        int at = 8;
        bool ended = false;
        while (at < data.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(data, at + 4, 4);
            var body = data.AsSpan(at + 8, length);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(at + 8 + length));
            Assert.That(crc, Is.EqualTo(Crc32(data.AsSpan(at + 4, 4 + length))), $"CRC of {type}");
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(body);
                height = BinaryPrimitives.ReadInt32BigEndian(body[4..]);
                depth = body[8];
                colourType = body[9];
                Assert.That(body[10..].ToArray(), Is.EqualTo(new byte[3]), "deflate, filter method 0, no interlace");
            }
            else if (type == "IDAT")
            {
                idat.Write(body);
            }
            else if (type == "IEND")
            {
                ended = true;
            }
            at += 12 + length;
        }
        Assert.That(ended, "IEND");
        Assert.That(colourType, Is.AnyOf(2, 6), "truecolour, with or without alpha");
        int channels = colourType == 6 ? 4 : 3;
        int bytesPerSample = depth / 8;
        int pixelBytes = channels * bytesPerSample;
        int rowBytes = width * pixelBytes;

        idat.Position = 0;
        using var inflated = new MemoryStream();
        using (var zlib = new ZLibStream(idat, CompressionMode.Decompress)) zlib.CopyTo(inflated);
        var raw = inflated.ToArray();
        Assert.That(raw.Length, Is.EqualTo(height * (rowBytes + 1)), "scanlines");

        var previous = new byte[rowBytes];
        var row = new byte[rowBytes];
        var samples = new int[width * height * channels];
        for (int y = 0; y < height; y++)
        {
            int filter = raw[y * (rowBytes + 1)];
            for (int i = 0; i < rowBytes; i++)
            {
                int value = raw[y * (rowBytes + 1) + 1 + i];
                int left = i >= pixelBytes ? row[i - pixelBytes] : 0;
                int up = previous[i];
                int upLeft = i >= pixelBytes ? previous[i - pixelBytes] : 0;
                row[i] = (byte)(value + filter switch
                {
                    0 => 0,
                    1 => left,
                    2 => up,
                    3 => (left + up) / 2,
                    4 => Paeth(left, up, upLeft),
                    _ => throw new AssertionException($"filter type {filter}"),
                });
            }
            for (int s = 0; s < width * channels; s++)
            {
                samples[y * width * channels + s] = bytesPerSample == 2
                    ? (row[2 * s] << 8) | row[2 * s + 1]
                    : row[s];
            }
            (previous, row) = (row, previous);
        }
        return new PngSamples(width, height, depth, channels, samples);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>CRC-32 bit by bit (no table), as PNG 1.2 annex D defines it.</summary>
    private static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }
}
