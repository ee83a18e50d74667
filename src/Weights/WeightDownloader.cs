using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Weights.Files;

namespace IlgpuStyle.Weights;

/// <summary>
/// An official torchvision weights file. torchvision names its files <c>{model}-{hash}.pth</c>, where
/// <c>hash</c> is the start of the file's SHA-256, so the name alone is enough to verify a download.
/// </summary>
/// <param name="Architecture">The network the file holds.</param>
/// <param name="FileName">The file's name on the server, e.g. <c>vgg19-dcbb9e9d.pth</c>.</param>
public sealed record TorchvisionFile(VggArchitecture Architecture, string FileName)
{
    /// <summary>torchvision's VGG-19 (ImageNet), legacy .pth format, 548 MB.</summary>
    public static TorchvisionFile Vgg19 { get; } = new(VggArchitecture.Vgg19, "vgg19-dcbb9e9d.pth");

    /// <summary>torchvision's VGG-16 (ImageNet), legacy .pth format, 528 MB.</summary>
    public static TorchvisionFile Vgg16 { get; } = new(VggArchitecture.Vgg16, "vgg16-397923af.pth");

    /// <summary>The official file for <c>vgg19</c> or <c>vgg16</c>; null for any other name.</summary>
    public static TorchvisionFile? Find(string? arch) =>
        VggArchitecture.Find(arch) switch
        {
            var a when a == VggArchitecture.Vgg19 => Vgg19,
            var a when a == VggArchitecture.Vgg16 => Vgg16,
            _ => null,
        };

    /// <summary>The hex digits after the last '-' of the name: the expected start of the SHA-256.</summary>
    public string HashPrefix
    {
        get
        {
            string stem = Path.GetFileNameWithoutExtension(FileName);
            int dash = stem.LastIndexOf('-');
            string prefix = dash >= 0 ? stem[(dash + 1)..] : "";
            if (prefix.Length < 6 || !prefix.All(Uri.IsHexDigit))
                throw new ArgumentException($"{FileName} does not end in -<sha256 prefix>.pth", nameof(FileName));
            return prefix.ToLowerInvariant();
        }
    }
}

/// <summary>
/// Download progress: bytes on disk so far (a resumed download starts above zero) and the total when the server said.
/// </summary>
public readonly record struct DownloadProgress(string FileName, long BytesReceived, long? TotalBytes);

/// <summary>
/// Fetches torchvision's VGG weights and converts them: the path a fresh clone takes on its first
/// run, when <c>weights/vgg19.safetensors</c> does not exist yet. The download goes to
/// <c>{file}.part</c> beside the output; an interrupted run leaves it there and the next run asks the
/// server for the rest (HTTP Range), starting over if the server ignores the request or the
/// resumed file fails its hash check.
/// </summary>
public static class WeightDownloader
{
    /// <summary>Where torchvision publishes its weights.</summary>
    public const string DefaultUrlBase = "https://download.pytorch.org/models/";

    /// <summary>Environment variable that replaces <see cref="DefaultUrlBase"/> (a mirror, or a test server).</summary>
    public const string UrlBaseVariable = "ILGPU_STYLE_WEIGHTS_URL";

    /// <summary>
    /// How long the connection may stay silent before the download is abandoned (and left to resume).
    /// </summary>
    public static TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The URL base in effect: <paramref name="option"/>, else <see cref="UrlBaseVariable"/>, else the default.
    /// </summary>
    public static string ResolveUrlBase(string? option)
    {
        string value = option ?? Environment.GetEnvironmentVariable(UrlBaseVariable) ?? DefaultUrlBase;
        return value.EndsWith('/') ? value : value + "/";
    }

    /// <summary>
    /// Downloads <paramref name="file"/> from <paramref name="urlBase"/> (null: <see cref="ResolveUrlBase"/>),
    /// checks its SHA-256 prefix, converts it to <paramref name="outputPath"/> and deletes the
    /// download. Throws <see cref="ConverterException"/> with a one-line message; when the server
    /// cannot be reached, the message says how to fetch and convert the file by hand.
    /// </summary>
    public static async Task<ConversionResult> DownloadAndConvertAsync(
        TorchvisionFile file,
        string outputPath,
        string? urlBase = null,
        IProgress<DownloadProgress>? progress = null,
        TextWriter? log = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        log ??= TextWriter.Null;
        string url = ResolveUrlBase(urlBase) + file.FileName;
        string folder = Path.GetDirectoryName(FileIdentity.OutputPath(outputPath))!;
        bool createdFolder = !Directory.Exists(folder);
        Directory.CreateDirectory(folder);
        string downloaded = Path.Combine(folder, file.FileName);
        string part = downloaded + ".part";
        try
        {
            // A finished download from an earlier run whose conversion did not complete is reused.
            if (!File.Exists(downloaded)
                || !await HashMatchesAsync(downloaded, file.HashPrefix, cancellationToken).ConfigureAwait(false))
            {
                File.Delete(downloaded);
                await FetchVerifiedAsync(url, part, file, outputPath, progress, log, cancellationToken)
                    .ConfigureAwait(false);
                File.Move(part, downloaded, overwrite: true);
            }

            var result = WeightConverter.Convert(downloaded, outputPath, file.Architecture, preprocess: null, log);
            File.Delete(downloaded);
            return result;
        }
        catch when (createdFolder)
        {
            // Nothing to resume from: leave no empty folder behind either (best effort: the
            // original error is the one to report).
            try
            {
                if (!Directory.EnumerateFileSystemEntries(folder).Any()) Directory.Delete(folder);
            }
            catch (IOException)
            {
            }
            throw;
        }
    }

    private static async Task FetchVerifiedAsync(string url, string part, TorchvisionFile file, string outputPath,
        IProgress<DownloadProgress>? progress, TextWriter log, CancellationToken cancellationToken)
    {
        using var client = CreateClient();
        for (int attempt = 0; ; attempt++)
        {
            bool resumed = await FetchAsync(client, url, part, file, outputPath, progress, log, cancellationToken)
                .ConfigureAwait(false);
            string actual = await Sha256HexAsync(part, cancellationToken).ConfigureAwait(false);
            if (actual.StartsWith(file.HashPrefix, StringComparison.Ordinal))
                return;
            File.Delete(part);
            // A resumed file may hold a bad tail from an earlier run or a changed file; one clean
            // download from byte 0 settles whether the server's file itself is wrong.
            if (resumed && attempt == 0)
            {
                log.WriteLine(
                    $"{file.FileName}: resumed download failed its SHA-256 check; downloading again from the start");
                continue;
            }
            throw new ConverterException($"{url}: SHA-256 of the download starts with " +
                                         $"{actual[..file.HashPrefix.Length]}, expected {file.HashPrefix}; the " +
                                         "corrupt download was deleted, run again");
        }
    }

    /// <summary>
    /// Downloads into <paramref name="part"/>, continuing it if it exists. Returns whether it continued a partial file.
    /// </summary>
    private static async Task<bool> FetchAsync(HttpClient client, string url, string part, TorchvisionFile file,
        string outputPath, IProgress<DownloadProgress>? progress, TextWriter log, CancellationToken cancellationToken)
    {
        long existing = File.Exists(part) ? new FileInfo(part).Length : 0;
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(StallTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (existing > 0)
                request.Headers.Range = new RangeHeaderValue(existing, null);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall.Token)
                .ConfigureAwait(false);

            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                // The partial file is as long as (or longer than) the server's file: start over.
                log.WriteLine($"{file.FileName}: the partial download does not fit the server's file; starting over");
                File.Delete(part);
                return await FetchAsync(client, url, part, file, outputPath, progress, log, cancellationToken)
                    .ConfigureAwait(false);
            }
            if (!response.IsSuccessStatusCode)
                throw new ConverterException($"{url}: server answered {(int)response.StatusCode} " +
                                             $"{response.ReasonPhrase}. {ByHand(url, file, outputPath)}");

            bool resumed = existing > 0 && response.StatusCode == HttpStatusCode.PartialContent
                && response.Content.Headers.ContentRange?.From == existing;
            if (existing > 0 && !resumed)
                log.WriteLine($"{file.FileName}: the server does not resume this download; starting over");
            long start = resumed ? existing : 0;
            long? total = response.Content.Headers.ContentLength + start;
            if (resumed)
                log.WriteLine($"{file.FileName}: resuming at byte {start:N0}");

            await using var body = await response.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
            await using var output = new FileStream(
                part, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            var buffer = new byte[1 << 16];
            long received = start;
            progress?.Report(new DownloadProgress(file.FileName, received, total));
            int n;
            while ((n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false)) > 0)
            {
                await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                received += n;
                stall.CancelAfter(StallTimeout);
                progress?.Report(new DownloadProgress(file.FileName, received, total));
            }
            if (total is long expected && received != expected)
                throw new ConverterException(
                    $"{url}: the connection closed after {received:N0} of {expected:N0} bytes; run again to resume");
            return resumed;
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError
                                                 or HttpRequestError.NameResolutionError
                                                 or HttpRequestError.SecureConnectionError
                                                 or HttpRequestError.ProxyTunnelError)
        {
            throw new ConverterException(
                $"cannot reach {url} ({WeightSources.OneLine(e.Message)}). {ByHand(url, file, outputPath)}", e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            string resume = File.Exists(part) ? "; run again to resume" : "";
            throw new ConverterException($"{url}: download failed ({WeightSources.OneLine(e.Message)}){resume}", e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ConverterException($"{url}: no data for {StallTimeout.TotalSeconds:0} s; run again to resume", e);
        }
    }

    private static string ByHand(string url, TorchvisionFile file, string outputPath) =>
        $"To get the weights by hand, download {url} on a machine with internet access, copy it here and run: " +
        $"dotnet run --project tools/Converter -c Release -- {file.FileName} {outputPath}";

    private static HttpClient CreateClient()
    {
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30),
            AutomaticDecompression = DecompressionMethods.None };
        var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.UserAgent.ParseAdd("IlgpuStyle-Converter/1.0");
        return client;
    }

    private static async Task<bool> HashMatchesAsync(string path, string prefix, CancellationToken cancellationToken) =>
        (await Sha256HexAsync(path, cancellationToken).ConfigureAwait(false))
            .StartsWith(prefix, StringComparison.Ordinal);

    private static async Task<string> Sha256HexAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(
            path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        byte[] hash = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return Convert.ToHexStringLower(hash);
    }
}
