using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using IlgpuStyle.Host;
using static IlgpuStyle.Tests.Host.HostFiles;
using static IlgpuStyle.Tests.Host.SmallRuns;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// <c>--preview</c> and <c>--html-report</c> (issue 27) without a browser: what the server answers with and without
/// its token, Stop over HTTP ending the run as Ctrl-C does, every bad input refused in one line, the report page
/// self-contained, and a batch's index. PreviewPageTests drives the page itself in chromium.
/// </summary>
public sealed class PreviewTests
{
    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = NewFolder("preview");

    private string Out => Path.Combine(_folder, "out.png");

    /// <summary>The printed URL's parts: the server's root and the token.</summary>
    internal static (string Root, string Token) ParseUrl(string line)
    {
        var match = Regex.Match(line, @"^Preview: (http://[^/ ]+)/\?token=([A-Za-z0-9_-]+) ");
        Assert.That(match.Success, Is.True, line);
        return (match.Groups[1].Value, match.Groups[2].Value);
    }

    [Test]
    public void EveryRequestWithoutTheTokenIsRefusedAndStopEndsTheRunAsCtrlCDoes()
    {
        string report = Path.Combine(_folder, "run.json"), page = Path.Combine(_folder, "run.html");
        using var run = new ConsoleProcess(SmallRun(Out, ("--iterations", "1000000"), ("--preview", ""),
            ("--report", report), ("--html-report", page)));
        var (root, token) = ParseUrl(run.WaitForLine("Preview: "));
        Assert.That(root, Does.StartWith("http://127.0.0.1:"), "local only by default");
        run.WaitForLine("iteration 0/");
        using var http = new HttpClient();
        foreach (var (method, path) in new[]
                 {
                     ("GET", "/"), ("GET", "/events"), ("POST", "/stop"), ("POST", "/snapshot"),
                     ("GET", "/?token="), ("GET", $"/?token={token}x"), ("POST", $"/stop?token={token[..^1]}"),
                 })
        {
            using var response = http.Send(new HttpRequestMessage(new HttpMethod(method), root + path));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), $"{method} {path}");
        }
        Assert.That(run.Running, Is.True, "a refused Stop stops nothing");
        using (var ok = http.GetAsync($"{root}/?token={token}").Result)
        {
            Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            string html = ok.Content.ReadAsStringAsync().Result;
            Assert.That(html, Does.Contain("uPlot").And.Contain("<button id=\"stop\""));
            Assert.That(html, Does.Not.Match(@"(src|href)=""(https?:)?//"), "nothing from elsewhere");
        }
        using (var stop = http.PostAsync($"{root}/stop?token={token}", null).Result)
            Assert.That(stop.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));

        Assert.That(run.WaitForExit(), Is.EqualTo(Interruption.ExitInterrupt), run.ToString());
        Assert.That(run.Output, Does.Match(@"Stop \(the preview page\): stopped at iteration \d+; saved " +
                                           $@"{Regex.Escape(Out)} \(32x24\) and {Regex.Escape(report)} and " +
                                           $@"{Regex.Escape(page)}\."));
        Assert.That(run.Output.Split('\n')[^1], Does.Match(@"^preview: the page cost the run \d+\.\d{3} s on its " +
                                                         @"thread and \d+\.\d{3} s encoding 0 images, \d+\.\d% of " +
                                                         @"its \d+\.\d s\.$"), "no page: no image encoded");
        using var json = Report(report);
        Assert.That(json.RootElement.GetProperty("stop").GetString(), Is.EqualTo("interrupted"));
        Assert.That(Decode(Out).Width, Is.EqualTo(32));
        Assert.That(run.Errors, Is.Empty);
    }

    [TestCase("70000", "--preview takes a port from 1 to 65535, not '70000' (give --preview alone for a free port).")]
    [TestCase("0", "--preview takes a port from 1 to 65535, not '0' (give --preview alone for a free port).")]
    [TestCase("http", "--preview takes a port from 1 to 65535, not 'http' (give --preview alone for a free port).")]
    [TestCase("0.0.0.0:8080", "--preview 0.0.0.0:8080 would be reachable from other machines; to mean that, say " +
                              "so: --preview-bind 0.0.0.0 --preview 8080.")]
    [TestCase("192.168.1.5:8080", "--preview 192.168.1.5:8080 would be reachable from other machines; to mean " +
                                  "that, say so: --preview-bind 192.168.1.5 --preview 8080.")]
    [TestCase("nowhere:8080", "--preview takes an IP address (127.0.0.1, 0.0.0.0, ::1, a machine's own address), " +
                              "not 'nowhere'.")]
    public void ABadPreviewIsRefusedInOneLine(string value, string message)
    {
        Assert.That(Refused(Run(SmallRun(Out, "--preview", value))), Is.EqualTo("error: " + message));
        Assert.That(File.Exists(Out), Is.False);
    }

    [Test]
    public void PreviewBindWithoutPreviewOrWithTwoAddressesIsRefused()
    {
        Assert.That(Refused(Run(SmallRun(Out, "--preview-bind", "0.0.0.0"))),
            Is.EqualTo("error: --preview-bind 0.0.0.0 says where --preview listens: give --preview too."));
        Assert.That(Refused(Run(SmallRun(Out, "--preview-bind", "0.0.0.0", "--preview", "127.0.0.1:8080"))),
            Does.StartWith("error: --preview 127.0.0.1:8080 and --preview-bind 0.0.0.0 both name an address"));
        Assert.That(Refused(Run(SmallRun(Out, "--preview", "8080", "--preview-bind", "not-an-address"))),
            Does.StartWith("error: --preview-bind takes an IP address"));
    }

    [Test]
    public void APortInUseIsRefusedInOneLineBeforeTheRun()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var run = Run(SmallRun(Out, "--preview", port.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(Refused(run), Is.EqualTo($"error: --preview: port {port} is in use on 127.0.0.1; choose another " +
                                             "port, or give --preview alone for a free one."));
        Assert.That(run.Output, Does.Not.Contain("iteration"), "refused before the run");
        Assert.That(File.Exists(Out), Is.False);
    }

    [Test]
    public void ABindAddressOtherMachinesReachIsWarnedAboutOnStderrAndTheRunGoesOn()
    {
        var run = Run(SmallRun(Out, ("--preview-bind", "0.0.0.0"), ("--preview", "")));
        Assert.That(run.Exit, Is.Zero, run.ToString());
        string[] warnings = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(warnings, Has.Length.EqualTo(1), run.ToString());
        Assert.That(warnings[0], Does.Match(@"^warning: the preview listens on 0\.0\.0\.0:\d+ \(--preview-bind\), " +
                                            "reachable from other machines"));
        Assert.That(run.Output, Does.Match(@"Preview: http://[^:/]+:\d+/\?token="));
        Assert.That(File.Exists(Out), Is.True);
    }

    [Test]
    public void WithoutThePreviewOptionsNothingIsServedOrSaid()
    {
        var run = Run(SmallRun(Out, Array.Empty<string>()));
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(run.Output + run.Error, Does.Not.Contain("Preview").And.Not.Contain("preview:")
            .And.Not.Contain("html").And.Not.Contain("warning"));
    }

    /// <summary>The report page holds everything it shows: the images as data URIs, uPlot and its licence, every
    /// iteration's losses, the options and the plan; nothing it loads comes from elsewhere.</summary>
    [Test]
    public void TheHtmlReportIsSelfContained()
    {
        string page = Path.Combine(_folder, "run.html");
        var run = Run(SmallRun(Out, "--iterations", "4", "--html-report", page, "--print-every", "0"));
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain($"and {page} in "));
        string html = File.ReadAllText(page);
        Assert.That(html, Does.Not.Match(@"(src|href)=""(https?:|//)"), "nothing from elsewhere");
        Assert.That(html, Does.Contain("var uPlot=").And.Contain("Copyright (c) 2022 Leon Sorokin"));
        var data = Regex.Match(html, @"window\.RUN = (\{.*\});</script>");
        Assert.That(data.Success, Is.True);
        using var json = JsonDocument.Parse(data.Groups[1].Value);
        var root = json.RootElement;
        Assert.That(root.GetProperty("points").GetArrayLength(), Is.EqualTo(5), "iterations 0 to 4, each");
        Assert.That(root.GetProperty("frame").GetProperty("src").GetString(), Does.StartWith("data:image/png;base64,"));
        Assert.That(Convert.FromBase64String(root.GetProperty("frame").GetProperty("src").GetString()!
            .Split(',')[1]), Is.EqualTo(File.ReadAllBytes(Out)), "the result itself");
        Assert.That(root.GetProperty("inputs").EnumerateArray().Select(i => i.GetProperty("src").GetString()),
            Has.All.StartWith("data:image/jpeg;base64,"));
        Assert.That(root.GetProperty("inputs").GetArrayLength(), Is.EqualTo(2), "the content and the style");
        Assert.That(root.GetProperty("plan").GetString(), Does.StartWith("Plan for vgg19"));
        Assert.That(root.GetProperty("options").EnumerateArray().Select(o => o[0].GetString()),
            Does.Contain("Size").And.Contain("Iterations").And.Contain("Style"));
        Assert.That(root.GetProperty("status").GetProperty("outcome").GetString(), Is.EqualTo("iterations done"));
    }

    [Test]
    public void AnHtmlReportThatIsNoWebPageIsRefused()
    {
        Assert.That(Refused(Run(SmallRun(Out, "--html-report", Path.Combine(_folder, "run.json")))),
            Does.StartWith("error: --html-report writes a web page: give a file name ending in .html"));
        string both = Path.Combine(_folder, "run.html");
        Assert.That(Refused(Run(SmallRun(Out, "--html-report", both, "--report", both))), Does.Contain("run.html"));
    }

    /// <summary>A batch's --html-report is its index: each image's page beside its output, linked from it.</summary>
    [Test]
    public void ABatchWritesEachImagesPageAndAnIndexLinkingThem()
    {
        string index = Path.Combine(_folder, "index.html"), outputs = Path.Combine(_folder, "out");
        var run = Run(["batch", "--inputs", ContentPng, PortraitJpeg, "--output-dir", outputs, "--style", StylePng,
            "--weights", TinyWeights(), "--device", "cpu", "--size", "32", "--iterations", "2",
            "--html-report", index]);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        Assert.That(run.Output, Does.Contain($"Wrote the index {index} (2 images)."));
        string html = File.ReadAllText(index);
        foreach (string name in new[] { "content", "portrait" })
        {
            Assert.That(File.ReadAllText(Path.Combine(outputs, name + ".html")), Does.Contain("window.RUN = {"));
            Assert.That(html, Does.Contain($"<a href=\"out/{name}.html\">report</a>"));
            Assert.That(html, Does.Contain($"<a href=\"out/{name}.png\">{name}.png</a>"));
        }
        Assert.That(Refused(Run(["batch", "--inputs", ContentPng, "--output-dir", outputs, "--style", StylePng,
            "--preview"])), Does.StartWith("error: --preview watches one run, and a batch is many"));
    }

    /// <summary>Each shard of a batch writes its own index (index-shard-I-of-N.html), so no shard overwrites the
    /// index of another.</summary>
    [Test]
    public void EachShardOfABatchWritesItsOwnIndex()
    {
        string index = Path.Combine(_folder, "index.html"), outputs = Path.Combine(_folder, "out");
        for (int shard = 0; shard < 2; shard++)
        {
            var run = Run(["batch", "--inputs", ContentPng, PortraitJpeg, "--output-dir", outputs, "--style",
                StylePng, "--weights", TinyWeights(), "--device", "cpu", "--size", "32", "--iterations", "2",
                "--html-report", index, "--shard", $"{shard}/2"]);
            Assert.That(run.Exit, Is.Zero, run.ToString());
        }
        Assert.Multiple(() =>
        {
            Assert.That(File.Exists(index), Is.False, "no shard writes the whole batch's name");
            Assert.That(File.ReadAllText(Path.Combine(_folder, "index-shard-0-of-2.html")),
                Does.Contain("href=\"out/content.png\"").And.Not.Contain("href=\"out/portrait.png\""));
            Assert.That(File.ReadAllText(Path.Combine(_folder, "index-shard-1-of-2.html")),
                Does.Contain("href=\"out/portrait.png\"").And.Not.Contain("href=\"out/content.png\""));
        });
    }
}
