using IlgpuStyle.TestLogger;
using Microsoft.VisualStudio.TestPlatform.ObjectModel;
using Microsoft.VisualStudio.TestPlatform.ObjectModel.Client;
using Microsoft.VisualStudio.TestPlatform.ObjectModel.Logging;
using VsTestResult = Microsoft.VisualStudio.TestPlatform.ObjectModel.TestResult;

namespace IlgpuStyle.Tests.Support;

/// <summary>The test command's summary: failures in full, skipped tests counted by reason.</summary>
[NonParallelizable] // replaces Console.Out
public sealed class SummaryLoggerTests
{
    /// <summary>The events the test platform raises, raised by hand.</summary>
    private sealed class Events : TestLoggerEvents
    {
        public override event EventHandler<TestResultEventArgs>? TestResult;
        public override event EventHandler<TestRunCompleteEventArgs>? TestRunComplete;
#pragma warning disable CS0067 // the logger listens to these, the test never raises them
        public override event EventHandler<TestRunMessageEventArgs>? TestRunMessage;
        public override event EventHandler<TestRunStartEventArgs>? TestRunStart;
        public override event EventHandler<DiscoveryStartEventArgs>? DiscoveryStart;
        public override event EventHandler<TestRunMessageEventArgs>? DiscoveryMessage;
        public override event EventHandler<DiscoveredTestsEventArgs>? DiscoveredTests;
        public override event EventHandler<DiscoveryCompleteEventArgs>? DiscoveryComplete;
#pragma warning restore CS0067

        public void Result(string name, TestOutcome outcome, string? message) =>
            TestResult?.Invoke(this, new TestResultEventArgs(new VsTestResult(
                new TestCase("Tests." + name, new Uri("executor://test"), "tests.dll") { DisplayName = name })
            {
                Outcome = outcome,
                ErrorMessage = message,
                ErrorStackTrace = outcome == TestOutcome.Failed ? "at Tests.Something()" : null,
            }));

        public void Complete() => TestRunComplete?.Invoke(this,
            new TestRunCompleteEventArgs(null, false, false, null, null, TimeSpan.FromSeconds(1)));

    }

    [Test]
    public void SkippedTestsAreCountedByReasonAndFailuresShownInFull()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"ilgpu-style-skips-{Guid.NewGuid():N}");
        var events = new Events();
        new SummaryLogger().Initialize(events, new Dictionary<string, string?> { ["skips"] = folder });
        var previous = Console.Out;
        using var console = new StringWriter();
        try
        {
            Console.SetOut(console);
            events.Result("A", TestOutcome.Skipped, "OneTimeSetUp: No Cuda device on this machine.");
            events.Result("B", TestOutcome.Passed, null);
            events.Result("C", TestOutcome.Skipped, "../shared is not beside this clone.");
            events.Result("D", TestOutcome.Failed, "Expected: 2\nBut was: 3");
            events.Result("E", TestOutcome.Skipped, "No Cuda device on this machine.");
            events.Complete();
        }
        finally
        {
            Console.SetOut(previous);
        }

        string[] lines = console.ToString().ReplaceLineEndings("\n").TrimEnd().Split('\n');
        Assert.That(lines, Is.EqualTo(new[]
        {
            "  Failed D (Tests.D)",
            "    Expected: 2",
            "    But was: 3",
            "    at Tests.Something()",
            "  2 skipped: No Cuda device on this machine.",
            "  1 skipped: ../shared is not beside this clone.",
        }));
        string[] written = File.ReadAllLines(Directory.GetFiles(folder).Single());
        Assert.That(written,
            Is.EqualTo(new[] { "2\tNo Cuda device on this machine.", "1\t../shared is not beside this clone." }));
        Directory.Delete(folder, recursive: true);
    }
}
