using System.Text.Json;
using IlgpuStyle.Host;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Tests.Network;
using IlgpuStyle.Tests.Support;
using IlgpuStyle.Weights;
using StbImageSharp;
using StbImageWriteSharp;

namespace IlgpuStyle.Tests.Host;

/// <summary>What one in-process run of <c>ilgpu-style</c> returned and printed.</summary>
internal sealed record CliResult(int Exit, string Output, string Error)
{
    /// <summary>Everything printed, for assertion messages.</summary>
    public override string ToString() => $"exit {Exit}\n--- output ---\n{Output}\n--- error ---\n{Error}";
}

/// <summary>
/// Files the console tests share: tiny VGG weights written by the tests, weights converted once from
/// the ../shared fixtures, and small images drawn in code (so most tests need nothing from ../shared).
/// Everything lives in one temporary folder that <see cref="HostFilesCleanup"/> deletes.
/// </summary>
internal static class HostFiles
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, string> Cache = [];
    private static string? _root;

    /// <summary>The shared temporary folder (created on first use).</summary>
    public static string Root
    {
        get
        {
            lock (Gate)
            {
                _root ??= Directory.CreateDirectory(Path.Combine(Path.GetTempPath(),
                    $"ilgpu-style-host-tests-{Environment.ProcessId}-{Guid.NewGuid():N}")).FullName;
                return _root;
            }
        }
    }

    /// <summary>Runs the command line in-process with captured output (never a live progress bar).</summary>
    public static CliResult Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = Cli.Run(args, output, error);
        return new CliResult(exit, output.ToString(), error.ToString());
    }

    /// <summary>A new empty folder for one test's outputs.</summary>
    public static string NewFolder(string name) =>
        Directory.CreateDirectory(Path.Combine(Root, $"{name}-{Guid.NewGuid().ToString("N")[..8]}")).FullName;

    /// <summary>
    /// Tiny VGG-19 weights (channels / 16) from <see cref="TinyVgg"/>, written as safetensors once per convention.
    /// </summary>
    public static string TinyWeights(string preprocess = "caffe") => Once($"tiny-{preprocess}.safetensors", path =>
    {
        var weights = TinyVgg.Create(preprocess);
        var tensors = new List<NamedTensor>();
        foreach (var layer in weights.Layers)
        {
            tensors.Add(
                new NamedTensor(layer.Name + ".weight", [layer.OutChannels, layer.InChannels, 3, 3], layer.Weight));
            tensors.Add(new NamedTensor(layer.Name + ".bias", [layer.OutChannels], layer.Bias));
        }
        SafetensorsFile.Write(
            path, tensors, new Dictionary<string, string> { ["arch"] = "vgg19", ["preprocess"] = preprocess });
    });

    /// <summary>
    /// A ../shared weight fixture (e.g. <c>vgg19_div16.v1.caffemodel</c>) converted once with the
    /// converter's defaults (.caffemodel: caffe convention, .pth: torchvision); the test is skipped
    /// when ../shared is absent.
    /// </summary>
    public static string ConvertedFixture(string fixture)
    {
        string source = SharedFolder.Require("fixtures/weights/" + fixture);
        return Once(fixture + ".safetensors", path => WeightConverter.Convert(source, path));
    }

    /// <summary>A 64x48 (landscape) PNG with smooth, saturated colour everywhere: the content photograph.</summary>
    public static string ContentPng => Once("content.png", path => WritePng(path, ContentPixels(64, 48), 64, 48));

    /// <summary>A 40x40 PNG checkerboard of blue and yellow with diagonal stripes: the painting.</summary>
    public static string StylePng => Once("style.png", path => WritePng(path, StylePixels(40, 40), 40, 40));

    /// <summary>A 30x50 (portrait) JPEG.</summary>
    public static string PortraitJpeg => Once("portrait.jpg", path =>
    {
        using var stream = File.Create(path);
        new ImageWriter().WriteJpg(
            ContentPixels(30, 50), 30, 50, StbImageWriteSharp.ColorComponents.RedGreenBlue, stream, 90);
    });

    /// <summary>A 36x36 gray PNG (one channel).</summary>
    public static string GrayPng => Once("gray.png", path =>
    {
        var pixels = new byte[36 * 36];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)((i % 36) * 7 + (i / 36) * 3);
        using var stream = File.Create(path);
        new ImageWriter().WritePng(pixels, 36, 36, StbImageWriteSharp.ColorComponents.Grey, stream);
    });

    /// <summary>A 40x32 RGBA PNG whose alpha varies (alpha must be dropped, not blended).</summary>
    public static string RgbaPng => Once("rgba.png", path =>
    {
        var rgb = StylePixels(40, 32);
        var pixels = new byte[40 * 32 * 4];
        for (int p = 0; p < 40 * 32; p++)
        {
            pixels[4 * p] = rgb[3 * p];
            pixels[4 * p + 1] = rgb[3 * p + 1];
            pixels[4 * p + 2] = rgb[3 * p + 2];
            pixels[4 * p + 3] = (byte)(p % 256);
        }
        using var stream = File.Create(path);
        new ImageWriter().WritePng(pixels, 40, 32, StbImageWriteSharp.ColorComponents.RedGreenBlueAlpha, stream);
    });

    /// <summary>Decodes an image file to 8-bit RGB.</summary>
    public static RgbImage Decode(string path)
    {
        using var stream = File.OpenRead(path);
        var image = ImageResult.FromStream(stream, StbImageSharp.ColorComponents.RedGreenBlue);
        return new RgbImage(image.Width, image.Height, image.Data);
    }

    /// <summary>Parses a <c>--report</c> file.</summary>
    public static JsonDocument Report(string path) => JsonDocument.Parse(File.ReadAllText(path));

    /// <summary>The <c>total</c> of every iteration entry of a report, with its iteration number.</summary>
    public static List<(int Iteration, double Total)> Totals(JsonDocument report) =>
        report.RootElement.GetProperty("iterations").EnumerateArray()
            .Select(e => (e.GetProperty("iteration").GetInt32(), e.GetProperty("total").GetDouble()))
            .ToList();

    private static string Once(string name, Action<string> create)
    {
        lock (Gate)
        {
            if (Cache.TryGetValue(name, out string? existing)) return existing;
            string path = Path.Combine(Root, name);
            create(path);
            Cache[name] = path;
            return path;
        }
    }

    private static void WritePng(string path, byte[] rgb, int width, int height)
    {
        using var stream = File.Create(path);
        new ImageWriter().WritePng(rgb, width, height, StbImageWriteSharp.ColorComponents.RedGreenBlue, stream);
    }

    private static byte[] ContentPixels(int width, int height)
    {
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            int i = (y * width + x) * 3;
            pixels[i] = (byte)(40 + 200 * x / (width - 1));
            pixels[i + 1] = (byte)(230 - 180 * y / (height - 1));
            pixels[i + 2] = (byte)(128 + 100 * Math.Sin(0.3 * x + 0.2 * y));
        }
        return pixels;
    }

    private static byte[] StylePixels(int width, int height)
    {
        var pixels = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            int i = (y * width + x) * 3;
            bool blue = ((x / 5) + (y / 5)) % 2 == 0;
            bool stripe = (x + y) % 7 < 2;
            byte[] colour = stripe ? [250, 250, 250] : blue ? [20, 50, 210] : [245, 205, 30];
            colour.CopyTo(pixels, i);
        }
        return pixels;
    }
}

/// <summary>Deletes <see cref="HostFiles.Root"/> after the console tests.</summary>
[SetUpFixture]
public sealed class HostFilesCleanup
{
    [OneTimeTearDown]
    public void DeleteTemporaryFiles()
    {
        foreach (string folder in Directory.GetDirectories(Path.GetTempPath(),
            $"ilgpu-style-host-tests-{Environment.ProcessId}-*"))
            Directory.Delete(folder, recursive: true);
    }
}
