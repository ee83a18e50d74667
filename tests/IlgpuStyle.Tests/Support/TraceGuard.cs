using System.Collections.Concurrent;
using System.Diagnostics;

namespace IlgpuStyle.Tests.Support;

/// <summary>
/// An assertion that fails inside a CPU-accelerator kernel (an out-of-range view access) would end
/// the whole test process. This replaces the default trace listener with one that records the
/// failure instead, and fails the test that caused it.
/// </summary>
[SetUpFixture]
public sealed class TraceGuard
{
    private static readonly ConcurrentQueue<string> Failures = new();

    [OneTimeSetUp]
    public void InstallListener()
    {
        Trace.Listeners.Clear();
        Trace.Listeners.Add(new RecordingListener());
    }

    /// <summary>Fails the current test if any assertion failed since the last call.</summary>
    public static void ThrowIfAssertionsFailed()
    {
        var messages = new List<string>();
        while (Failures.TryDequeue(out var message)) messages.Add(message);
        Assert.That(messages, Is.Empty, "An assertion failed inside a kernel or the runtime.");
    }

    private sealed class RecordingListener : TraceListener
    {
        public override void Fail(string? message, string? detailMessage) =>
            Failures.Enqueue($"{message} {detailMessage}".Trim());

        public override void Write(string? message)
        {
        }

        public override void WriteLine(string? message)
        {
        }
    }
}
