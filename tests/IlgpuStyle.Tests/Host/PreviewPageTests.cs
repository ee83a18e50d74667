using System.Net;
using IlgpuStyle.Host;
using IlgpuStyle.Tests.Support;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// The preview page (issue 27) in a real headless browser during a real run: Debian's chromium, driven through its
/// own chromium-driver by Selenium's WebDriver (the W3C protocol, which does not change with chromium's version, and a
/// driver built from the same source as the browser, so the two always match; Playwright would bring its own driver
/// and expects the chromium build it was released with). The image changes, the chart gains points, a page that
/// leaves does not stop the run, Save snapshot writes one, Stop ends the run as Ctrl-C does, and the report page
/// shows the same run from the disk. Screenshots of both go to the test's folder, and to
/// <c>$ILGPU_STYLE_SCREENSHOTS</c> when set (how docs/preview-*.png were made).
/// </summary>
public sealed class PreviewPageTests
{
    /// <summary>chromium and chromium-driver: <c>$CHROMIUM</c> and <c>$CHROMEDRIVER</c>, else Debian's paths, else
    /// the test is skipped, saying how to have them (CI installs them).</summary>
    private static (string Browser, string Driver) Chromium()
    {
        string? browser = Find("CHROMIUM", "chromium", "chromium-browser", "google-chrome");
        string? driver = Find("CHROMEDRIVER", "chromedriver");
        if (browser is null || driver is null)
        {
            Assert.Ignore("No chromium and chromium-driver here (apt-get install chromium chromium-driver, or set " +
                          "CHROMIUM and CHROMEDRIVER; CI installs them): the preview page is not driven in a browser.");
        }
        return (browser!, driver!);
    }

    private static string? Find(string variable, params string[] names)
    {
        if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } given && File.Exists(given)) return given;
        var folders = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Append("/usr/bin").Append("/usr/lib/chromium");
        return names.SelectMany(n => folders.Select(f => Path.Combine(f, n))).FirstOrDefault(File.Exists);
    }

    private static ChromeDriver Browser(string browser, string driver)
    {
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driver)!,
            Path.GetFileName(driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = browser };
        // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1280,1000", "--hide-scrollbars", "--force-device-scale-factor=1");
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    /// <summary>A photograph and a painting: ../shared's when it is beside the clone (the screenshots show them),
    /// else the drawn ones.</summary>
    private static (string Content, string Style) Images()
    {
        string? root = SharedFolder.RepositoryRoot;
        string content = Path.Combine(root ?? "", "..", "shared", "images", "tubingen.jpg");
        string style = Path.Combine(root ?? "", "..", "shared", "images", "starry_night.jpg");
        return root is not null && File.Exists(content) && File.Exists(style)
            ? (Path.GetFullPath(content), Path.GetFullPath(style))
            : (ContentPng, StylePng);
    }

    [Test]
    public void ThePageShowsTheRunAsItPaintsAndItsStopButtonEndsItAsCtrlCDoes()
    {
        var (browserPath, driverPath) = Chromium();
        string folder = NewFolder("preview-page");
        string output = Path.Combine(folder, "out.png"), report = Path.Combine(folder, "run.json");
        string page = Path.Combine(folder, "run.html");
        var (content, style) = Images();
        using var run = new ConsoleProcess(["--content", content, "--style", style, "--weights", TinyWeights(),
            "--device", "cpu", "--schedule", "64:20,128:1000000", "--print-every", "0", "--output", output,
            "--report", report, "--html-report", page, "--preview"]);
        var (root, token) = PreviewTests.ParseUrl(run.WaitForLine("Preview: "));
        using var browser = Browser(browserPath, driverPath);

        // Without the token the page is not served, in the browser too.
        browser.Navigate().GoToUrl(root + "/");
        Assert.That(browser.FindElement(By.TagName("body")).Text, Does.Contain("needs the token"));

        browser.Navigate().GoToUrl($"{root}/?token={token}");
        string Read(string script) => Convert.ToString(((IJavaScriptExecutor)browser).ExecuteScript(script),
            System.Globalization.CultureInfo.InvariantCulture) ?? "";
        int Points() => int.Parse(Read("return document.getElementById('losses').dataset.points"),
            System.Globalization.CultureInfo.InvariantCulture);
        string Frame() => Read("var i = document.getElementById('current'); return (i.dataset.frame || '') + ' ' + " +
                               "i.src.length + ' ' + i.src.slice(-64) + ' ' + " +
                               "document.getElementById('caption').textContent");
        string Status() => Read("return document.getElementById('status').textContent");

        // The chart's points and the image come as separate events: wait for both (Frame() is never empty, since it
        // holds the source's length).
        string Source() => Read("return document.getElementById('current').src");
        Assert.That(Poll.Until(() => Points() >= 3 && Source().StartsWith("data:image/jpeg;base64,",
            StringComparison.Ordinal), 120), Is.True, $"the chart has points and the image is shown\n{run}");
        int points = Points();
        string frame = Frame();
        Assert.That(Poll.Until(() => Points() > points + 2, 60), Is.True, "the chart gains points");
        Assert.That(Poll.Until(() => Frame() != frame, 60), Is.True, "the image changes");
        Assert.That(Read("return document.querySelectorAll('#losses canvas').length"), Is.EqualTo("1"), "uPlot drew");
        Assert.That(Read("return document.querySelectorAll('#inputs img').length"), Is.EqualTo("2"));
        Assert.That(Status(), Does.Contain("iterations per second").And.Contain("ETA").And.Contain("CPU")
            .And.Contain("peak device"));

        // A page that leaves: one line, and the run goes on.
        browser.Navigate().GoToUrl("about:blank");
        run.WaitForLine("preview: a page closed; the run goes on");
        Assert.That(run.Running, Is.True);
        browser.Navigate().GoToUrl($"{root}/?token={token}");
        Assert.That(Poll.Until(() => Points() > points + 4, 60), Is.True, "the page comes back with the history");
        // Coarse to fine: the second scale begins after 20 iterations, and the chart marks where.
        Assert.That(Poll.Until(() => Status().Contains("scale 2/2 128x96", StringComparison.Ordinal) &&
                                     Points() > 30, 120), Is.True, Status());
        Assert.That(Frame(), Does.Contain("128x96"), "the image of the second scale");
        Screenshot(browser, "preview-live.png", folder);

        browser.FindElement(By.Id("snapshot")).Click();
        string saved = run.WaitForLine("saved ");
        Assert.That(File.Exists(saved["saved ".Length..]), Is.True, saved);

        browser.FindElement(By.Id("stop")).Click();
        Assert.That(run.WaitForExit(), Is.EqualTo(Interruption.ExitInterrupt), run.ToString());
        Assert.That(run.Output, Does.Contain("Stop (the preview page): stopped at scale 2/2 128x96, iteration"));
        Assert.That(run.Output, Does.Match(@"preview: the page cost the run [\d.]+ s on its thread and [\d.]+ s " +
                                           @"encoding [1-9]\d* images"), "the page's images were encoded");
        Assert.That(Decode(output).Width, Is.EqualTo(128));
        using (var json = Report(report))
            Assert.That(json.RootElement.GetProperty("stop").GetString(), Is.EqualTo("interrupted"));
        Assert.That(run.Errors, Is.Empty);

        // The report, from the disk: the same page, with nothing to load.
        browser.Navigate().GoToUrl(new Uri(page).AbsoluteUri);
        Assert.That(Poll.Until(() => Points() > points + 4, 30), Is.True, "the report's chart");
        Assert.That(Read("return document.getElementById('current').src"), Does.StartWith("data:image/png;base64,"));
        Assert.That(Read("return document.getElementById('state').textContent"), Is.EqualTo("ended"));
        Assert.That(Read("return document.getElementById('plan').textContent"), Does.StartWith("Plan for"));
        Screenshot(browser, "preview-report.png", folder);
    }

    private static void Screenshot(ChromeDriver browser, string name, string folder)
    {
        var shot = browser.GetScreenshot();
        string path = Path.Combine(folder, name);
        shot.SaveAsFile(path);
        TestContext.AddTestAttachment(path);
        if (Environment.GetEnvironmentVariable("ILGPU_STYLE_SCREENSHOTS") is { Length: > 0 } copies)
            File.Copy(path, Path.Combine(copies, name), overwrite: true);
    }
}
