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

    /// <summary>
    /// How many times smaller torchvision-convention inputs are than caffe-convention ones:
    /// caffe feeds <c>rgb - mean</c> on the 0-255 scale, torchvision <c>(rgb/255 - mean)/std</c>
    /// with std about 0.226, so about 255 * 0.226 = 57.6.
    /// </summary>
    public const float TorchvisionScale = 58f;

    /// <summary>Adam's default learning rate on the caffe (0-255) scale, as in neural-style.</summary>
    public const double CaffeAdamLearningRate = 10;

    /// <summary>
    /// How many times smaller this convention's inputs are than caffe's 0-255 scale: 1 for caffe,
    /// <see cref="TorchvisionScale"/> for torchvision. Everything measured in input units follows it.
    /// </summary>
    public float InputScale => Convention == PreprocessConvention.Caffe ? 1f : TorchvisionScale;

    /// <summary>
    /// Adam's default step for <paramref name="styleLoss"/>: <see cref="CaffeAdamLearningRate"/> with the Gram loss,
    /// crowsonkb's <see cref="LossWeights.W2CaffeAdamLearningRate"/> with W2. The step is in input units, so it
    /// follows the input scale (SPEC.md: works untuned for both conventions).
    /// </summary>
    public double AdamLearningRate(StyleLossKind styleLoss) =>
        (styleLoss == StyleLossKind.W2 ? LossWeights.W2CaffeAdamLearningRate : CaffeAdamLearningRate) / InputScale;

    /// <summary>
    /// The deviation of <c>--init random</c>'s noise: faint Gaussian noise around the mean colour, as
    /// neural-style's (0.001 on the 0-255 scale), in input units.
    /// </summary>
    public double NoiseSigma => 1e-3 / InputScale;

    /// <summary>The convention named in a weights file's metadata (<c>torchvision</c> or <c>caffe</c>).</summary>
    public static Preprocessing FromName(string name) => name switch
    {
        "torchvision" => Torchvision,
        "caffe" => Caffe,
        _ => throw new ArgumentException($"Unknown preprocessing '{name}' (expected torchvision or caffe)."),
    };

    /// <summary>The preprocessed <c>(3, H, W)</c> tensor of an image.</summary>
    public float[] ToNetworkInput(RgbImage image) =>
        ToNetworkInput(image.Width, image.Height, i => image.Pixels[i]);

    /// <summary>The preprocessed <c>(3, H, W)</c> tensor of an unrounded image (values on the 0-255 scale).</summary>
    public float[] ToNetworkInput(FloatRgbImage image) =>
        ToNetworkInput(image.Width, image.Height, i => image.Pixels[i]);

    /// <summary>The preprocessed <c>(3, H, W)</c> tensor of interleaved RGB values on the 0-255 scale, read by
    /// index.</summary>
    private float[] ToNetworkInput(int width, int height, Func<int, double> pixel)
    {
        var shape = new ChwShape(3, height, width);
        var x = new float[shape.Length];
        for (int y = 0; y < height; y++)
        for (int col = 0; col < width; col++)
        for (int c = 0; c < 3; c++)
            x[shape.Index(c, y, col)] = (float)Forward(c, pixel((y * width + col) * 3 + SourceChannel(c)));
        return x;
    }

    /// <summary>The image of a preprocessed <c>(3, H, W)</c> tensor: inverted, clamped, rounded.</summary>
    public RgbImage ToImage(float[] x, int width, int height) => ToPixels(x, width, height).ToBytes();

    /// <summary>The image of a preprocessed <c>(3, H, W)</c> tensor, inverted and clamped to [0, 255] but not
    /// rounded (what a 16-bit output is written from).</summary>
    public FloatRgbImage ToPixels(float[] x, int width, int height)
    {
        var shape = new ChwShape(3, height, width);
        Require.Length(x, shape.Length, nameof(x));
        var pixels = new float[width * height * 3];
        for (int y = 0; y < height; y++)
        for (int col = 0; col < width; col++)
        for (int c = 0; c < 3; c++)
            pixels[(y * width + col) * 3 + SourceChannel(c)] =
                (float)Math.Clamp(Inverse(c, x[shape.Index(c, y, col)]), 0, 255);
        return new FloatRgbImage(width, height, pixels);
    }

    // ---------------------------------------------------------------- luminance-only transfer

    /// <summary>
    /// The one optimized channel of luminance-only transfer, <c>y = (Y - m) / s</c>: the luminance Y (0-255)
    /// on the scale of this convention's network input, centred on the luminance of the mean colour (so
    /// that y = 0 is the mean colour's grey, as x = 0 is the mean colour) and divided by the luminance of
    /// the channels' deviations (1 for caffe). Learning rates and the TV weight then mean for y what they
    /// mean for x.
    /// </summary>
    public (double Mean, double Scale) LuminanceScale => Convention == PreprocessConvention.Caffe
        ? (Yiq.Luminance(CaffeMeanBgr[2], CaffeMeanBgr[1], CaffeMeanBgr[0]), 1.0)
        : (255 * Yiq.Luminance(TorchvisionMean[0], TorchvisionMean[1], TorchvisionMean[2]),
           255 * Yiq.Luminance(TorchvisionStd[0], TorchvisionStd[1], TorchvisionStd[2]));

    /// <summary>The optimized channel y of luminance values Y (0-255), one per pixel.</summary>
    public float[] LuminanceToNetwork(ReadOnlySpan<double> luminance)
    {
        var (mean, scale) = LuminanceScale;
        var y = new float[luminance.Length];
        for (int i = 0; i < y.Length; i++) y[i] = (float)((luminance[i] - mean) / scale);
        return y;
    }

    /// <summary>The luminance (0-255, clamped) of the optimized channel y.</summary>
    public double[] LuminanceFromNetwork(ReadOnlySpan<float> y)
    {
        var (mean, scale) = LuminanceScale;
        var luminance = new double[y.Length];
        for (int i = 0; i < y.Length; i++) luminance[i] = Math.Clamp(scale * y[i] + mean, 0, 255);
        return luminance;
    }

    /// <summary>The values of y for black and white.</summary>
    public (float Low, float High) LuminanceRange
    {
        get
        {
            var (mean, scale) = LuminanceScale;
            return ((float)((0 - mean) / scale), (float)((255 - mean) / scale));
        }
    }

    /// <summary>
    /// The network input of a grey image (R = G = B = Y) as an affine map of y, per network channel:
    /// <c>x[c] = Forward(c, s y + m) = a_c y + b_c</c>, with b_c = Forward(c, m) and a_c = Forward(c, m + s) - b_c
    /// (Forward is affine). Caffe's a_c is 1 and b_c = m - mean_c; torchvision's a_c = s / (255 std_c).
    /// </summary>
    public ReplicateParameters LuminanceReplication(int planeLength)
    {
        var (mean, scale) = LuminanceScale;
        var offsets = new float[3];
        var scales = new float[3];
        for (int c = 0; c < 3; c++)
        {
            offsets[c] = (float)Forward(c, mean);
            scales[c] = (float)(Forward(c, mean + scale) - Forward(c, mean));
        }
        return ReplicateParameters.Of(planeLength, scales, offsets);
    }

    /// <summary>The <c>(3, H, W)</c> network input of a grey image of luminance Y (0-255, one per pixel),
    /// unrounded: what <see cref="LuminanceReplication"/> makes of <see cref="LuminanceToNetwork"/>.</summary>
    public float[] GreyToNetworkInput(ReadOnlySpan<double> luminance)
    {
        int plane = luminance.Length;
        var x = new float[3 * plane];
        for (int c = 0; c < 3; c++)
        for (int i = 0; i < plane; i++)
            x[c * plane + i] = (float)Forward(c, luminance[i]);
        return x;
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
