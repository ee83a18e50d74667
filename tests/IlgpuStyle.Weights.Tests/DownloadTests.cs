using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using IlgpuStyle.Network.Weights;
using IlgpuStyle.Weights;

namespace IlgpuStyle.Weights.Tests;

/// <summary>
/// A file server on 127.0.0.1 that can honour or ignore HTTP Range requests and can drop the
/// connection partway, to exercise the downloader's resume and restart paths.
/// </summary>
internal sealed class LoopbackServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private readonly object _lock = new();
    private readonly List<string?> _ranges = [];

    public LoopbackServer(string fileName, byte[] content)
    {
        FileName = fileName;
        Content = content;
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/models/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    public string FileName { get; }

    public byte[] Content { get; }

    public int Port { get; }

    public string UrlBase => $"http://127.0.0.1:{Port}/models/";

    public bool HonourRange { get; set; } = true;

    /// <summary>When set, the next response stops after this many body bytes and the connection is dropped.</summary>
    public int? DropAfter { get; set; }

    /// <summary>The Range header of every request (null when none).</summary>
    public IReadOnlyList<string?> Ranges
    {
        get
        {
            lock (_lock)
                return _ranges.ToList();
        }
    }

    public static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e)
                when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            try
            {
                await RespondAsync(context);
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                // The client went away; keep serving.
            }
        }
    }

    private async Task RespondAsync(HttpListenerContext context)
    {
        var response = context.Response;
        string? range = context.Request.Headers["Range"];
        lock (_lock)
            _ranges.Add(range);
        if (context.Request.Url?.AbsolutePath != "/models/" + FileName)
        {
            response.StatusCode = 404;
            response.Close();
            return;
        }

        long start = 0;
        if (range != null && HonourRange && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            start = long.Parse(range["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (start >= Content.Length)
            {
                response.StatusCode = 416;
                response.Close();
                return;
            }
            response.StatusCode = 206;
            response.Headers["Content-Range"] = $"bytes {start}-{Content.Length - 1}/{Content.Length}";
        }
        response.ContentLength64 = Content.Length - start;
        int length = (int)(Content.Length - start);
        if (DropAfter is int drop && drop < length)
        {
            DropAfter = null;
            await response.OutputStream.WriteAsync(Content.AsMemory((int)start, drop));
            await response.OutputStream.FlushAsync();
            response.Abort();
            return;
        }
        await response.OutputStream.WriteAsync(Content.AsMemory((int)start, length));
        response.Close();
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}

/// <summary>The download path against a loopback server: good file, bad hash, resume, restart, unreachable.</summary>
[NonParallelizable]
public class DownloadTests
{
    private string _dir = "";
    private TinyVgg _net = null!;
    private byte[] _file = [];
    private TorchvisionFile _good = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = TestFiles.NewScratchFolder();
        _net = TinyVgg.Vgg16();
        _file = _net.LegacyPth();
        // Named like torchvision's files: the SHA-256 prefix is derived from the bytes served.
        string prefix = Convert.ToHexStringLower(SHA256.HashData(_file))[..8];
        _good = new TorchvisionFile(VggArchitecture.Vgg16, $"tiny16-{prefix}.pth");
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private string Output => Path.Combine(_dir, "weights", "vgg16.safetensors");

    private void AssertConverted()
    {
        var weights = VggWeights.Load(Output);
        Assert.That(weights.Preprocess, Is.EqualTo("torchvision"));
        Assert.That(weights["conv5_3"].Weight, Is.EqualTo(_net.Layers[^1].Weight));
        Assert.That(Directory.GetFiles(Path.Combine(_dir, "weights")), Is.EqualTo(new[] { Output }),
            "the download is deleted after converting");
    }

    [Test]
    public async Task GoodFileIsDownloadedVerifiedConvertedAndDeleted()
    {
        using var server = new LoopbackServer(_good.FileName, _file);
        var reports = new List<DownloadProgress>();

        await WeightDownloader.DownloadAndConvertAsync(_good, Output, server.UrlBase, new SyncProgress(reports.Add));

        AssertConverted();
        Assert.That(server.Ranges, Is.EqualTo(new string?[] { null }));
        Assert.That(reports[^1].BytesReceived, Is.EqualTo(_file.Length));
        Assert.That(reports[^1].TotalBytes, Is.EqualTo(_file.Length));
    }

    [Test]
    public void WrongHashIsRefusedAndTheDownloadDeleted()
    {
        string actual = Convert.ToHexStringLower(SHA256.HashData(_file))[..8];
        string wrong = actual == "00000000" ? "ffffffff" : "00000000";
        var bad = new TorchvisionFile(VggArchitecture.Vgg16, $"tiny16-{wrong}.pth");
        using var server = new LoopbackServer(bad.FileName, _file);

        var e = Assert.ThrowsAsync<ConverterException>(
            () => WeightDownloader.DownloadAndConvertAsync(bad, Output, server.UrlBase));

        Assert.That(e!.Message, Does.Contain("SHA-256").And.Contain(actual).And.Contain(wrong));
        ReaderTests.AssertSingleLine(e.Message);
        Assert.That(Directory.Exists(Path.Combine(_dir, "weights")), Is.False,
            "nothing left: not the download, not the folder made for it");
    }

    [Test]
    public async Task PartialDownloadIsResumedWithARangeRequest()
    {
        using var server = new LoopbackServer(_good.FileName, _file);
        Directory.CreateDirectory(Path.Combine(_dir, "weights"));
        int half = _file.Length / 2;
        File.WriteAllBytes(Path.Combine(_dir, "weights", _good.FileName + ".part"), _file[..half]);

        await WeightDownloader.DownloadAndConvertAsync(_good, Output, server.UrlBase);

        AssertConverted();
        Assert.That(server.Ranges, Is.EqualTo(new[] { $"bytes={half}-" }));
    }

    [Test]
    public async Task ServerThatIgnoresRangeMakesItRestartCleanly()
    {
        using var server = new LoopbackServer(_good.FileName, _file) { HonourRange = false };
        Directory.CreateDirectory(Path.Combine(_dir, "weights"));
        File.WriteAllBytes(Path.Combine(_dir, "weights", _good.FileName + ".part"), _file[..100]);

        await WeightDownloader.DownloadAndConvertAsync(_good, Output, server.UrlBase);

        AssertConverted();
    }

    [Test]
    public async Task CorruptPartialDownloadFailsItsHashAndIsFetchedAgain()
    {
        using var server = new LoopbackServer(_good.FileName, _file);
        Directory.CreateDirectory(Path.Combine(_dir, "weights"));
        var garbage = new byte[_file.Length / 3];
        new Random(1).NextBytes(garbage);
        File.WriteAllBytes(Path.Combine(_dir, "weights", _good.FileName + ".part"), garbage);

        await WeightDownloader.DownloadAndConvertAsync(_good, Output, server.UrlBase);

        AssertConverted();
        Assert.That(server.Ranges, Is.EqualTo(new[] { $"bytes={garbage.Length}-", null }));
    }

    [Test]
    public async Task DroppedConnectionLeavesAPartThatTheNextRunResumes()
    {
        using var server = new LoopbackServer(_good.FileName, _file) { DropAfter = _file.Length / 4 };

        var e = Assert.ThrowsAsync<ConverterException>(
            () => WeightDownloader.DownloadAndConvertAsync(_good, Output, server.UrlBase));
        Assert.That(e!.Message, Does.Contain("resume"));
        ReaderTests.AssertSingleLine(e.Message);
        string part = Path.Combine(_dir, "weights", _good.FileName + ".part");
        Assert.That(File.Exists(part), Is.True);
        long kept = new FileInfo(part).Length;
        Assert.That(File.Exists(Output), Is.False);

        await WeightDownloader.DownloadAndConvertAsync(_good, Output, server.UrlBase);

        AssertConverted();
        Assert.That(server.Ranges[^1], Is.EqualTo($"bytes={kept}-"));
    }

    [Test]
    public void UnreachableServerFailsInOneLineThatSaysHowToGetTheFileByHand()
    {
        string urlBase = $"http://127.0.0.1:{LoopbackServer.FreePort()}/models/";

        var e = Assert.ThrowsAsync<ConverterException>(
            () => WeightDownloader.DownloadAndConvertAsync(_good, Output, urlBase));

        Assert.That(e!.Message,
            Does.Contain("cannot reach").And.Contain("by hand").And.Contain(urlBase + _good.FileName)
                .And.Contain("tools/Converter"));
        ReaderTests.AssertSingleLine(e.Message);
        Assert.That(File.Exists(Output), Is.False);
    }

    [Test]
    public void AFailedFirstDownloadLeavesNoEmptyFolderBehind()
    {
        string urlBase = $"http://127.0.0.1:{LoopbackServer.FreePort()}/models/";
        string folder = Path.Combine(_dir, "fresh", "weights");

        Assert.ThrowsAsync<ConverterException>(
            () => WeightDownloader.DownloadAndConvertAsync(_good, Path.Combine(folder, "vgg19.safetensors"), urlBase));

        Assert.That(Directory.Exists(folder), Is.False, "the folder the download created for itself");
        Assert.That(Directory.Exists(Path.Combine(_dir, "fresh")), Is.True,
            "only the innermost folder is the downloader's to remove");
    }

    [Test]
    public void MissingFileOnServerIsReported()
    {
        using var server = new LoopbackServer("other.pth", _file);

        var e = Assert.ThrowsAsync<ConverterException>(
            () => WeightDownloader.DownloadAndConvertAsync(_good, Output, server.UrlBase));

        Assert.That(e!.Message, Does.Contain("404"));
    }

    [Test]
    public void UrlBaseComesFromTheOptionThenTheEnvironmentThenTheDefault()
    {
        string? saved = Environment.GetEnvironmentVariable(WeightDownloader.UrlBaseVariable);
        try
        {
            Environment.SetEnvironmentVariable(WeightDownloader.UrlBaseVariable, null);
            Assert.That(WeightDownloader.ResolveUrlBase(null), Is.EqualTo(WeightDownloader.DefaultUrlBase));
            Environment.SetEnvironmentVariable(WeightDownloader.UrlBaseVariable, "http://mirror/x");
            Assert.That(WeightDownloader.ResolveUrlBase(null), Is.EqualTo("http://mirror/x/"));
            Assert.That(WeightDownloader.ResolveUrlBase("http://opt/"), Is.EqualTo("http://opt/"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(WeightDownloader.UrlBaseVariable, saved);
        }
    }

    [Test]
    public void OfficialFilesCarryTheirHashPrefixes()
    {
        Assert.That(TorchvisionFile.Find("vgg19")!.HashPrefix, Is.EqualTo("dcbb9e9d"));
        Assert.That(TorchvisionFile.Find("VGG16")!.FileName, Is.EqualTo("vgg16-397923af.pth"));
        Assert.That(TorchvisionFile.Find("resnet50"), Is.Null);
    }

    /// <summary>
    /// Reports synchronously (Progress&lt;T&gt; posts to the thread pool, so the last report could arrive late).
    /// </summary>
    private sealed class SyncProgress(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
