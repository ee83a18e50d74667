using System.Buffers.Binary;

namespace IlgpuStyle.Host;

/// <summary>
/// What the image decoder (StbImageSharp) does not check: whether a file holds all the data its
/// headers promise, and a JPEG's EXIF orientation. The decoder fills the missing part of a cut-off
/// JPEG, BMP, TGA, GIF or PSD with grey or black and reports success, so a half-copied photograph
/// would be styled without a word; these checks walk the file's structure (markers, chunks, rows,
/// packets, blocks) without decoding pixels.
/// </summary>
internal static class ImageFileStructure
{
    private const int DefaultOrientation = 1;

    /// <summary>
    /// Why the data of an image file ends early ("it ends before ..."), or null when the file is
    /// whole or of a format not checked here (the decoder then decides).
    /// </summary>
    public static string? Truncation(ReadOnlySpan<byte> data)
    {
        if (IsJpeg(data)) return WalkJpeg(data).ReachesEnd ? null : "it ends before the JPEG's end-of-image marker";
        if (data.StartsWith(PngSignature)) return PngReachesEnd(data) ? null : "it ends before the PNG's end chunk";
        if (data.Length >= 2 && data[0] == 'B' && data[1] == 'M') return BmpTruncation(data);
        if (data.StartsWith("GIF87a"u8) || data.StartsWith("GIF89a"u8)) return GifTruncation(data);
        if (data.StartsWith("8BPS"u8)) return PsdTruncation(data);
        if (LooksLikeTga(data)) return TgaTruncation(data);
        return null;
    }

    /// <summary>A JPEG's EXIF orientation (1 to 8), or 1 when the file is no JPEG or has no valid tag.</summary>
    public static int Orientation(ReadOnlySpan<byte> data) =>
        IsJpeg(data) ? WalkJpeg(data).Orientation : DefaultOrientation;

    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    private static bool IsJpeg(ReadOnlySpan<byte> data) =>
        data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;

    /// <summary>
    /// Follows a JPEG's markers from the start-of-image to the end-of-image marker (ITU T.81, B.1):
    /// segments carry their length; after a start-of-scan the entropy-coded data runs to the next
    /// marker (0xFF followed by a byte that is neither 0 nor a restart marker). A progressive JPEG
    /// has several scans; all of them must be there.
    /// </summary>
    private static (bool ReachesEnd, int Orientation) WalkJpeg(ReadOnlySpan<byte> data)
    {
        int orientation = DefaultOrientation;
        int at = 2;
        while (true)
        {
            // Fill bytes (0xFF repeated) and stray bytes before a marker are skipped, as decoders do.
            while (at < data.Length && data[at] != 0xFF) at++;
            while (at + 1 < data.Length && data[at + 1] == 0xFF) at++;
            if (at + 1 >= data.Length) return (false, orientation);
            byte marker = data[at + 1];
            if (marker == 0xD9) return (true, orientation);                   // EOI
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7)) { at += 2; continue; } // no length
            if (at + 4 > data.Length) return (false, orientation);
            int length = BinaryPrimitives.ReadUInt16BigEndian(data[(at + 2)..]); // counts its own 2 bytes
            int end = at + 2 + length;
            if (length < 2 || end > data.Length) return (false, orientation);
            if (marker == 0xE1) orientation = ExifOrientationTag(data[(at + 4)..end]) ?? orientation;
            at = end;
            if (marker != 0xDA) continue;                                     // SOS: entropy-coded data follows
            while (at + 1 < data.Length && !IsMarkerAfterScan(data[at], data[at + 1])) at++;
        }
    }

    /// <summary>In entropy-coded data 0xFF 0x00 is a stuffed 0xFF byte and 0xFF 0xD0-D7 a restart marker.</summary>
    private static bool IsMarkerAfterScan(byte first, byte second) =>
        first == 0xFF && second != 0 && second is not (>= 0xD0 and <= 0xD7);

    /// <summary>The Orientation tag (274) of an APP1 "Exif" segment's first image directory, if valid.</summary>
    private static int? ExifOrientationTag(ReadOnlySpan<byte> segment)
    {
        if (!segment.StartsWith("Exif\0\0"u8) || segment.Length < 14) return null;
        var tiff = segment[6..];
        bool little = tiff[0] == 'I' && tiff[1] == 'I';
        if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return null;
        uint directory = U32(tiff[4..], little);
        if (directory > tiff.Length - 2) return null;
        int entries = U16(tiff[(int)directory..], little);
        for (int i = 0; i < entries; i++)
        {
            int entry = (int)directory + 2 + 12 * i;
            if (entry + 12 > tiff.Length) return null;
            if (U16(tiff[entry..], little) != 274) continue;
            int value = U16(tiff[(entry + 8)..], little); // a SHORT sits in the first two bytes of the value field
            return U16(tiff[(entry + 2)..], little) == 3 && value is >= 1 and <= 8 ? value : null;
        }
        return null;
    }

    private static int U16(ReadOnlySpan<byte> at, bool little) =>
        little ? BinaryPrimitives.ReadUInt16LittleEndian(at) : BinaryPrimitives.ReadUInt16BigEndian(at);

    private static uint U32(ReadOnlySpan<byte> at, bool little) =>
        little ? BinaryPrimitives.ReadUInt32LittleEndian(at) : BinaryPrimitives.ReadUInt32BigEndian(at);

    /// <summary>PNG chunks (length, type, data, CRC) follow one another up to IEND.</summary>
    private static bool PngReachesEnd(ReadOnlySpan<byte> data)
    {
        long at = PngSignature.Length;
        while (at + 8 <= data.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(data[(int)at..]);
            if (data.Slice((int)at + 4, 4).SequenceEqual("IEND"u8)) return true;
            at += 12L + length;
        }
        return false;
    }

    /// <summary>An uncompressed BMP holds |height| rows of 4-byte-aligned pixels from its data offset.</summary>
    private static string? BmpTruncation(ReadOnlySpan<byte> data)
    {
        if (data.Length < 26) return "it ends inside the BMP's header";
        long offset = BinaryPrimitives.ReadUInt32LittleEndian(data[10..]);
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(data[14..]);
        long width, height;
        int bitsPerPixel;
        uint compression = 0;
        if (headerSize == 12)
        {
            width = BinaryPrimitives.ReadUInt16LittleEndian(data[18..]);
            height = BinaryPrimitives.ReadUInt16LittleEndian(data[20..]);
            bitsPerPixel = BinaryPrimitives.ReadUInt16LittleEndian(data[24..]);
        }
        else
        {
            if (data.Length < 34) return "it ends inside the BMP's header";
            width = BinaryPrimitives.ReadInt32LittleEndian(data[18..]);
            height = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(data[22..])); // negative: top-down rows
            bitsPerPixel = BinaryPrimitives.ReadUInt16LittleEndian(data[28..]);
            compression = BinaryPrimitives.ReadUInt32LittleEndian(data[30..]);
        }
        // Only uncompressed rows (BI_RGB, BI_BITFIELDS) have a size known from the header.
        if (compression is not (0 or 3) || width <= 0 || bitsPerPixel <= 0) return null;
        long rowBytes = (width * bitsPerPixel + 31) / 32 * 4;
        return offset + rowBytes * height > data.Length ? "it ends before the BMP's last row of pixels" : null;
    }

    /// <summary>
    /// TGA has no signature: a plausible header (colour-mapped, true-colour or gray, maybe RLE) is
    /// taken as one.
    /// </summary>
    private static bool LooksLikeTga(ReadOnlySpan<byte> data) =>
        data.Length >= 18 && data[1] <= 1 && data[2] is 1 or 2 or 3 or 9 or 10 or 11
        && data[16] is 8 or 15 or 16 or 24 or 32;

    /// <summary>
    /// A TGA's pixels follow its header, ID and colour map: width x height pixels, or for the RLE
    /// types packets (a count byte, then one pixel repeated or that many raw pixels) covering as many.
    /// </summary>
    private static string? TgaTruncation(ReadOnlySpan<byte> data)
    {
        int colorMapLength = data[1] == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(data[5..]) : 0;
        long at = 18L + data[0] + colorMapLength * ((data[7] + 7) / 8);
        long pixels = (long)BinaryPrimitives.ReadUInt16LittleEndian(data[12..])
                      * BinaryPrimitives.ReadUInt16LittleEndian(data[14..]);
        int pixelBytes = (data[16] + 7) / 8;
        const string Cut = "it ends before the TGA's last pixel";
        if (data[2] < 9) return at + pixels * pixelBytes > data.Length ? Cut : null;
        while (pixels > 0)
        {
            if (at >= data.Length) return Cut;
            int header = data[(int)at];
            int count = (header & 0x7F) + 1;
            at += 1 + ((header & 0x80) != 0 ? pixelBytes : (long)count * pixelBytes);
            pixels -= count;
        }
        return at > data.Length ? Cut : null;
    }

    /// <summary>
    /// A GIF (GIF89a spec) is blocks after its screen descriptor and colour table: extensions and images, each
    /// carrying its data in sub-blocks (a length byte, then that many bytes) ended by an empty one. The decoder
    /// reads the first image, so the file must reach that image's last sub-block.
    /// </summary>
    private static string? GifTruncation(ReadOnlySpan<byte> data)
    {
        const string Cut = "it ends before the GIF's first image ends";
        static long ColourTable(byte flags) => (flags & 0x80) != 0 ? 3L << ((flags & 7) + 1) : 0;
        if (data.Length < 13) return Cut;
        long at = 13 + ColourTable(data[10]);
        while (at < data.Length)
        {
            byte block = data[(int)at];
            if (block == 0x3B) return null; // the trailer before any image: the decoder says what is wrong
            if (block == 0x21)
            {
                at += 2; // the extension's label
            }
            else if (block == 0x2C)
            {
                if (at + 10 >= data.Length) return Cut;
                at += 10 + ColourTable(data[(int)at + 9]) + 1; // the descriptor, its colour table, the code size
            }
            else
            {
                return null; // not a block: the decoder says what is wrong
            }
            while (true) // the sub-blocks, up to the empty one
            {
                if (at >= data.Length) return Cut;
                byte length = data[(int)at++];
                if (length == 0) break;
                at += length;
            }
            if (block == 0x2C) return at > data.Length ? Cut : null;
        }
        return Cut;
    }

    /// <summary>
    /// A PSD (Photoshop file format, version 1) holds its composite image last: after the 26-byte header and
    /// three sections that carry their lengths (colour mode data, image resources, layers and masks), a
    /// compression field and, raw, channels x height x width samples, or run-length encoded, a byte count per
    /// row of each channel followed by that many bytes.
    /// </summary>
    private static string? PsdTruncation(ReadOnlySpan<byte> data)
    {
        const string Cut = "it ends before the PSD's last row of pixels";
        if (data.Length < 26) return "it ends inside the PSD's header";
        int channels = BinaryPrimitives.ReadUInt16BigEndian(data[12..]);
        long height = BinaryPrimitives.ReadUInt32BigEndian(data[14..]);
        long width = BinaryPrimitives.ReadUInt32BigEndian(data[18..]);
        int depth = BinaryPrimitives.ReadUInt16BigEndian(data[22..]);
        long at = 26;
        for (int section = 0; section < 3; section++)
        {
            if (at + 4 > data.Length) return Cut;
            at += 4 + BinaryPrimitives.ReadUInt32BigEndian(data[(int)at..]);
        }
        if (at + 2 > data.Length) return Cut;
        int compression = BinaryPrimitives.ReadUInt16BigEndian(data[(int)at..]);
        at += 2;
        long rows = channels * height;
        if (compression == 0) return at + rows * width * ((depth + 7) / 8) > data.Length ? Cut : null;
        if (compression != 1) return null; // the decoder says what it does not read
        if (at + 2 * rows > data.Length) return Cut;
        long packed = 0;
        for (long row = 0; row < rows; row++)
            packed += BinaryPrimitives.ReadUInt16BigEndian(data[(int)(at + 2 * row)..]);
        return at + 2 * rows + packed > data.Length ? Cut : null;
    }
}
