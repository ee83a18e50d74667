using System.Runtime.InteropServices;

namespace IlgpuStyle.Host;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM during the optimization: instead of killing the process (losing
/// every iteration so far and leaving the terminal's cursor hidden by the live bar), the run is
/// asked to stop after the current iteration, save what it has, and exit with the shell's code for
/// that signal (128 + signal number: 130, 143). Outside the optimization (loading, a download) and
/// on a second signal the process ends at once, as it would without this class.
/// </summary>
internal sealed class Interruption : IDisposable
{
    /// <summary>The exit code after SIGINT (Ctrl-C): 128 + 2.</summary>
    public const int ExitInterrupt = 130;

    /// <summary>The exit code after SIGTERM: 128 + 15.</summary>
    public const int ExitTerminate = 143;

    private readonly List<PosixSignalRegistration> _registrations = [];
    private volatile bool _armed;
    private volatile int _exitCode;
    private volatile string? _name;

    /// <summary>Listens for SIGINT and SIGTERM from now until disposed.</summary>
    public static Interruption Listen()
    {
        var interruption = new Interruption();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
            interruption._registrations.Add(PosixSignalRegistration.Create(signal, interruption.OnSignal));
        return interruption;
    }

    /// <summary>Whether a signal asked the run to stop.</summary>
    public bool Requested => _exitCode != 0;

    /// <summary>The exit code for the signal received (0 when none).</summary>
    public int ExitCode => _exitCode;

    /// <summary>Ctrl-C or SIGTERM, for messages (or what asked in its place, <see cref="Request(PosixSignal,
    /// string)"/>).</summary>
    public string SignalName => _name ?? (_exitCode == ExitTerminate ? "SIGTERM" : "Ctrl-C");

    /// <summary>From now on a signal stops the run gracefully (between iterations).</summary>
    public void Arm() => _armed = true;

    /// <summary>From now on a signal ends the process at once again (the run is saving or done).</summary>
    public void Disarm() => _armed = false;

    /// <summary>Asks the run to stop as the signal would (for tests: no signal needed).</summary>
    public void Request(PosixSignal signal) =>
        _exitCode = signal == PosixSignal.SIGTERM ? ExitTerminate : ExitInterrupt;

    /// <summary>Asks the run to stop as <paramref name="signal"/> would, on behalf of <paramref name="name"/> (the
    /// preview page's Stop button): the same path and exit code, its own name in the last line.</summary>
    public void Request(PosixSignal signal, string name)
    {
        if (Requested) return;
        _name = name;
        Request(signal);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
    }

    private void OnSignal(PosixSignalContext context)
    {
        if (!_armed || Requested) return; // not cancelled: the default action ends the process
        context.Cancel = true;
        Request(context.Signal);
    }
}
