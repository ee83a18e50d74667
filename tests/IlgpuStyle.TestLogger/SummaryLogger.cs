using Microsoft.VisualStudio.TestPlatform.ObjectModel;
using Microsoft.VisualStudio.TestPlatform.ObjectModel.Client;

namespace IlgpuStyle.TestLogger;

/// <summary>
/// What the test command prints besides the console logger's totals: each failed test with its
/// message and stack trace as it happens, and when the run ends one line per reason for skipping,
/// e.g. <c>214 skipped: No Cuda device on this machine ...</c>. Hundreds of tests skip together for
/// one reason (no GPU), and a line per skipped test would bury the failures.
/// </summary>
/// <remarks>
/// Parameters (<c>--logger "summary;skips=FOLDER"</c>): <c>skips</c> also writes the groups as lines
/// <c>count TAB reason</c> to a new file in FOLDER, one per test assembly (they run in parallel), so
/// that <c>.ci/run</c> can add them up.
/// </remarks>
[FriendlyName(FriendlyName)]
[ExtensionUri("logger://ilgpu-style/summary/v1")]
public sealed class SummaryLogger : ITestLoggerWithParameters
{
    /// <summary>The name <c>--logger</c> and run settings use.</summary>
    public const string FriendlyName = "summary";

    /// <summary>NUnit prefixes a reason given in a fixture's one-time set-up; it says nothing to a reader.</summary>
    private const string SetUpPrefix = "OneTimeSetUp: ";

    private readonly Dictionary<string, int> _skipReasons = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private string? _skipsFolder;

    /// <inheritdoc/>
    public void Initialize(TestLoggerEvents events, string testRunDirectory) => Subscribe(events);

    /// <inheritdoc/>
    public void Initialize(TestLoggerEvents events, Dictionary<string, string?> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _skipsFolder = parameters.GetValueOrDefault("skips");
        Subscribe(events);
    }

    /// <summary>The reason as one trimmed line, without NUnit's set-up prefix.</summary>
    public static string Reason(string? message)
    {
        string reason = (message ?? "").ReplaceLineEndings(" ").Trim();
        if (reason.StartsWith(SetUpPrefix, StringComparison.Ordinal)) reason = reason[SetUpPrefix.Length..];
        return reason.Length > 0 ? reason : "(no reason given)";
    }

    private void Subscribe(TestLoggerEvents events)
    {
        ArgumentNullException.ThrowIfNull(events);
        events.TestResult += (_, e) => OnResult(e.Result);
        events.TestRunComplete += (_, _) => ReportSkips();
    }

    private void OnResult(TestResult result)
    {
        if (result.Outcome == TestOutcome.Failed)
        {
            lock (_gate) Console.WriteLine(Failure(result));
        }
        else if (result.Outcome == TestOutcome.Skipped)
        {
            string reason = Reason(result.ErrorMessage);
            lock (_gate) _skipReasons[reason] = _skipReasons.GetValueOrDefault(reason) + 1;
        }
    }

    private static string Failure(TestResult result)
    {
        static string Indented(string? text) =>
            string.Join(Environment.NewLine,
                (text ?? "").Trim().ReplaceLineEndings("\n").Split('\n').Select(l => "    " + l));
        string name = result.DisplayName ?? result.TestCase.DisplayName;
        return $"  Failed {name} ({result.TestCase.FullyQualifiedName}){Environment.NewLine}" +
               $"{Indented(result.ErrorMessage)}{Environment.NewLine}{Indented(result.ErrorStackTrace)}";
    }

    private void ReportSkips()
    {
        List<KeyValuePair<string, int>> groups;
        lock (_gate)
            groups = [.. _skipReasons.OrderByDescending(g => g.Value).ThenBy(g => g.Key, StringComparer.Ordinal)];
        if (groups.Count == 0) return;
        foreach (var (reason, count) in groups) Console.WriteLine($"  {count} skipped: {reason}");
        if (_skipsFolder is null) return;
        Directory.CreateDirectory(_skipsFolder);
        File.WriteAllLines(Path.Combine(_skipsFolder, $"{Guid.NewGuid():N}.tsv"),
            groups.Select(g => $"{g.Value}\t{g.Key}"));
    }
}
