namespace IlgpuStyle.Network.Images;

/// <summary>
/// The EXIF orientation tag (TIFF tag 274, values 1 to 8): how a camera's stored pixels must be
/// flipped or turned to show the scene upright. A phone held upright stores a landscape sensor
/// image with orientation 6 ("turn 90 degrees clockwise to view").
/// </summary>
public static class ExifOrientation
{
    /// <summary>
    /// The upright image: <paramref name="image"/> as stored, turned and mirrored as
    /// <paramref name="orientation"/> says. 1 (or any value outside 1 to 8) returns it unchanged;
    /// 5 to 8 swap width and height.
    /// </summary>
    public static RgbImage ToUpright(RgbImage image, int orientation)
    {
        if (orientation is < 2 or > 8) return image;
        int w = image.Width, h = image.Height;
        bool swaps = orientation >= 5;
        int outWidth = swaps ? h : w, outHeight = swaps ? w : h;
        var pixels = new byte[image.Pixels.Length];
        for (int y = 0; y < outHeight; y++)
        for (int x = 0; x < outWidth; x++)
        {
            // The stored pixel (sx, sy) that shows at (x, y) once upright (EXIF 2.3, tag Orientation).
            var (sx, sy) = orientation switch
            {
                2 => (w - 1 - x, y),             // mirrored left-right
                3 => (w - 1 - x, h - 1 - y),     // turned 180 degrees
                4 => (x, h - 1 - y),             // mirrored top-bottom
                5 => (y, x),                     // transposed
                6 => (y, h - 1 - x),             // turn 90 degrees clockwise to view
                7 => (w - 1 - y, h - 1 - x),     // transversed
                _ => (w - 1 - y, x),             // 8: turn 90 degrees counter-clockwise to view
            };
            Array.Copy(image.Pixels, (sy * w + sx) * 3, pixels, (y * outWidth + x) * 3, 3);
        }
        return new RgbImage(outWidth, outHeight, pixels);
    }
}
