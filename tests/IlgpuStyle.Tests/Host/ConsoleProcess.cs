using System.Diagnostics;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// The console run in its own process (<c>dotnet ilgpu-style.dll ARGS</c>, beside the test binaries), its output
/// read line by line as it comes: for the tests that talk to a run while it works (its preview page). Killed when
/// disposed if it is still running.
/// </summary>
internal sealed class ConsoleProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Lock _gate = new();
    private readonly Task<string> _errors;

    /// <summary>Starts the console with <paramref name="args"/>.</summary>
    public ConsoleProcess(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ilgpu-style.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_gate) _lines.Add(e.Data);
        };
        _process.BeginOutputReadLine();
        _errors = _process.StandardError.ReadToEndAsync();
    }

    /// <summary>Every line printed on stdout so far.</summary>
    public string Output
    {
        get
        {
            lock (_gate) return string.Join("\n", _lines);
        }
    }

    /// <summary>Everything printed, for assertion messages (stderr once the process has ended).</summary>
    public override string ToString() =>
        $"--- output ---\n{Output}\n--- error ---\n{(_errors.IsCompleted ? _errors.Result : "(running)")}";

    /// <summary>Stderr, once the process has ended.</summary>
    public string Errors => _errors.Result;

    /// <summary>The first line that starts with <paramref name="prefix"/>, waiting for it up to
    /// <paramref name="seconds"/>; fails the test (with everything printed) when none comes.</summary>
    public string WaitForLine(string prefix, int seconds = 120)
    {
        string? line = null;
        bool found = Poll.Until(() =>
        {
            lock (_gate) line = _lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
            return line is not null || _process.HasExited;
        }, seconds) && line is not null;
        Assert.That(found, Is.True, $"a line starting '{prefix}'\n{this}");
        return line!;
    }

    /// <summary>Waits up to <paramref name="seconds"/> for the process to end; returns its exit code.</summary>
    public int WaitForExit(int seconds = 60)
    {
        Assert.That(_process.WaitForExit(TimeSpan.FromSeconds(seconds)), Is.True, $"the run ended\n{this}");
        _process.WaitForExit(); // the output read to its end
        _errors.Wait();
        return _process.ExitCode;
    }

    /// <summary>Whether the process is still running.</summary>
    public bool Running => !_process.HasExited;

    /// <inheritdoc/>
    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}

/// <summary>Waiting for a condition that a running process or page will make true.</summary>
internal static class Poll
{
    /// <summary>Polls <paramref name="condition"/> every 50 ms for up to <paramref name="seconds"/>; returns whether it
    /// became true.</summary>
    public static bool Until(Func<bool> condition, int seconds)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            if (condition()) return true;
            Thread.Sleep(50);
        }
        return condition();
    }
}
