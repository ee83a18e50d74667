using IlgpuStyle.Kernels;
using IlgpuStyle.Network.Images;

namespace IlgpuStyle.Network;

/// <summary>The two ways VGG weights expect their input (SPEC.md, "Preprocessing").</summary>
public enum PreprocessConvention
{
    /// <summary><c>x[c] = (rgb[c]/255 - mean[c]) / std[c]</c>, RGB order (torchvision's models).</summary>
    Torchvision,

    /// <summary><c>x[c] = bgr[c] - mean[c]</c> on the 0-255 scale, BGR order (the original Caffe VGG).</summary>
    Caffe,
}

/// <summary>
/// Image to network input and back. The optimizer works on the preprocessed image, so the output
/// image is the deprocessed result: inverted, clamped to [0, 255] and rounded.
/// </summary>
public sealed class Preprocessing
{
    private static readonly double[] TorchvisionMean = [0.485, 0.456, 0.406];
    private static readonly double[] TorchvisionStd = [0.229, 0.224, 0.225];
    private static readonly double[] CaffeMeanBgr = [103.939, 116.779, 123.68];

    private Preprocessing(PreprocessConvention convention) => Convention = convention;

    /// <summary>torchvision's convention.</summary>
    public static Preprocessing Torchvision { get; } = new(PreprocessConvention.Torchvision);

    /// <summary>Caffe's convention.</summary>
    public static Preprocessing Caffe { get; } = new(PreprocessConvention.Caffe);

    /// <summary>Which convention this is.</summary>
    public PreprocessConvention Convention { get; }

    /// <summary>The convention named in a weights file's metadata (<c>torchvision</c> or <c>caffe</c>).</summary>
    public static Preprocessing FromName(string name) => name switch
    {
        "torchvision" => Torchvision,
        "caffe" => Caffe,
        _ => throw new ArgumentException($"Unknown preprocessing '{name}' (expected torchvision or caffe)."),
    };

    /// <summary>The preprocessed <c>(3, H, W)</c> tensor of an image.</summary>
    public float[] ToNetworkInput(RgbImage image)
    {
        var shape = new ChwShape(3, image.Height, image.Width);
        var x = new float[shape.Length];
        for (int y = 0; y < image.Height; y++)
        for (int col = 0; col < image.Width; col++)
        for (int c = 0; c < 3; c++)
            x[shape.Index(c, y, col)] = (float)Forward(c, image.Pixels[(y * image.Width + col) * 3 + SourceChannel(c)]);
        return x;
    }

    /// <summary>The image of a preprocessed <c>(3, H, W)</c> tensor: inverted, clamped, rounded.</summary>
    public RgbImage ToImage(float[] x, int width, int height)
    {
        var shape = new ChwShape(3, height, width);
        Require.Length(x, shape.Length, nameof(x));
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        for (int col = 0; col < width; col++)
        for (int c = 0; c < 3; c++)
            pixels[(y * width + col) * 3 + SourceChannel(c)] =
                (byte)Math.Clamp(Math.Round(Inverse(c, x[shape.Index(c, y, col)])), 0, 255);
        return new RgbImage(width, height, pixels);
    }

    /// <summary>The values of pixel values 0 and 255 in network channel c: the range an image can hold
    /// there (an enlarged image is clamped to it, since bicubic interpolation overshoots at edges).</summary>
    public (float Low, float High) ChannelRange(int c) => ((float)Forward(c, 0), (float)Forward(c, 255));

    /// <summary>The RGB channel that network channel c holds (caffe reverses the order to BGR).</summary>
    private int SourceChannel(int c) => Convention == PreprocessConvention.Caffe ? 2 - c : c;

    private double Forward(int c, double value) => Convention == PreprocessConvention.Caffe
        ? value - CaffeMeanBgr[c]
        : (value / 255.0 - TorchvisionMean[c]) / TorchvisionStd[c];

    private double Inverse(int c, double x) => Convention == PreprocessConvention.Caffe
        ? x + CaffeMeanBgr[c]
        : (x * TorchvisionStd[c] + TorchvisionMean[c]) * 255.0;
}
