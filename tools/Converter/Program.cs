using System.Diagnostics;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Weights;
using IlgpuStyle.Weights.Files;

namespace IlgpuStyle.Converter;

/// <summary>
/// Command line: <c>INPUT OUTPUT.safetensors [--arch vgg19|vgg16] [--preprocess torchvision|caffe]</c>,
/// <c>--download vgg19|vgg16 [OUTPUT.safetensors] [--url-base URL]</c>, or <c>--list INPUT</c>.
/// Exit codes: 0 success, 1 the file or download failed, 2 bad arguments (an output that would replace the
/// input, a folder, a link or a device included). Errors are one line (bad arguments end with where the usage
/// is: <c>--help</c>).
/// </summary>
public static class Program
{
    private const string Usage =
        "usage: ilgpu-style-convert INPUT OUTPUT.safetensors [--arch vgg19|vgg16] [--preprocess torchvision|caffe]\n" +
        "       ilgpu-style-convert --download vgg19|vgg16 [OUTPUT.safetensors] [--url-base URL]\n" +
        "       ilgpu-style-convert --list INPUT";

    /// <summary>Entry point.</summary>
    public static Task<int> Main(string[] args) => RunAsync(args, Console.Out, Console.Error);

    /// <summary>Runs the command line with the given writers (tests capture them); returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);

        var positional = new List<string>();
        string? arch = null, preprocess = null, download = null, urlBase = null, list = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a is "-h" or "--help")
            {
                stdout.WriteLine(Usage);
                return 0;
            }
            if (a is "--arch" or "--preprocess" or "--download" or "--url-base" or "--list")
            {
                if (i + 1 >= args.Length)
                    return UsageError(stderr, $"{a} needs a value");
                string value = args[++i];
                switch (a)
                {
                    case "--arch": arch = value; break;
                    case "--preprocess": preprocess = value; break;
                    case "--download": download = value; break;
                    case "--url-base": urlBase = value; break;
                    default: list = value; break;
                }
            }
            else if (a.StartsWith("--", StringComparison.Ordinal))
            {
                return UsageError(stderr, $"unknown option {a}");
            }
            else
            {
                positional.Add(a);
            }
        }

        // An empty path is what an unset shell variable gives; the file system would refuse it with an exception.
        if (positional.Any(string.IsNullOrWhiteSpace) || list?.Trim() == "" || urlBase?.Trim() == "")
            return UsageError(stderr, "a path or URL is empty (is a shell variable not set?)");

        VggArchitecture? architecture = null;
        if (arch != null && (architecture = VggArchitecture.Find(arch)) == null)
            return UsageError(stderr, $"--arch must be vgg19 or vgg16, not '{arch}'");
        if (preprocess != null && !VggWeights.PreprocessNames.Contains(preprocess))
            return UsageError(stderr, $"--preprocess must be torchvision or caffe, not '{preprocess}'");

        try
        {
            if (list != null)
            {
                if (positional.Count != 0)
                    return UsageError(stderr, "--list takes only the input file");
                WeightConverter.List(list, stdout);
                return 0;
            }

            if (download != null)
            {
                var file = TorchvisionFile.Find(download);
                if (file == null)
                    return UsageError(stderr, $"--download must be vgg19 or vgg16, not '{download}'");
                if (positional.Count > 1 || arch != null || preprocess != null)
                    return UsageError(stderr,
                        "--download takes at most an output path (the arch is the downloaded file's)");
                string output = positional.Count == 1 ? positional[0]
                    : Path.Combine("weights", file.Architecture.Name + ".safetensors");
                var progress = new ConsoleProgress(stderr, IsTerminal(stderr));
                try
                {
                    await WeightDownloader.DownloadAndConvertAsync(file, output, urlBase, progress, stdout)
                        .ConfigureAwait(false);
                }
                finally
                {
                    // End the redrawn progress line so the table or the error starts on its own line.
                    progress.Finish();
                }
                return 0;
            }

            if (urlBase != null)
                return UsageError(stderr, "--url-base only applies to --download");
            if (positional.Count != 2)
                return UsageError(stderr, "expected an input file and an output .safetensors file");
            WeightConverter.Convert(positional[0], positional[1], architecture, preprocess, stdout);
            return 0;
        }
        catch (OutputPathException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (ConverterException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"error: {e.Message.ReplaceLineEndings(" ")}");
            return 1;
        }
    }

    /// <summary>One line, as every error: the problem, then where the usage is.</summary>
    private static int UsageError(TextWriter stderr, string message)
    {
        stderr.WriteLine($"error: {message}. See 'ilgpu-style-convert --help'.");
        return 2;
    }

    private static bool IsTerminal(TextWriter writer) =>
        writer == Console.Error && !Console.IsErrorRedirected;

    /// <summary>
    /// Shows download progress: on a terminal one line redrawn in place at most 5 times a second;
    /// redirected, a plain line every 10% so logs stay short.
    /// </summary>
    private sealed class ConsoleProgress(TextWriter writer, bool terminal) : IProgress<DownloadProgress>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _lastDraw = -1000;
        private int _lastTenth = -1;
        private long _firstBytes = -1;
        private bool _drawn;

        public void Report(DownloadProgress value)
        {
            if (_firstBytes < 0)
                _firstBytes = value.BytesReceived;
            double seconds = Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
            double rate = (value.BytesReceived - _firstBytes) / seconds;
            string amount = value.TotalBytes is long total && total > 0
                ? $"{Mb(value.BytesReceived)} / {Mb(total)} MB {100.0 * value.BytesReceived / total,5:0.0}%"
                : $"{Mb(value.BytesReceived)} MB";
            string eta = value.TotalBytes is long t && rate > 0
                ? $" ETA {TimeSpan.FromSeconds((t - value.BytesReceived) / rate):mm\\:ss}" : "";
            string line = $"downloading {value.FileName}: {amount} {Mb((long)rate)} MB/s{eta}";

            if (terminal)
            {
                bool done = value.TotalBytes == value.BytesReceived;
                if (_clock.ElapsedMilliseconds - _lastDraw < 200 && !done)
                    return;
                _lastDraw = _clock.ElapsedMilliseconds;
                writer.Write("\r" + line.PadRight(Math.Min(Console.WindowWidth - 1, 100)));
                _drawn = true;
            }
            else if (value.TotalBytes is long all && all > 0)
            {
                int tenth = (int)(10 * value.BytesReceived / all);
                if (tenth == _lastTenth)
                    return;
                _lastTenth = tenth;
                writer.WriteLine(line);
            }
        }

        public void Finish()
        {
            if (_drawn)
                writer.WriteLine();
            _drawn = false;
        }

        private static string Mb(long bytes) => (bytes / 1e6)
            .ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);
    }
}
