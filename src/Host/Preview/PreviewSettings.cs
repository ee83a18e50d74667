using System.Globalization;
using System.Net;

namespace IlgpuStyle.Host;

/// <summary>
/// Where <c>--preview</c> listens: the one owner of the port's range and of the rule that nothing is reachable from
/// another machine unless <c>--preview-bind</c> says so.
/// </summary>
/// <param name="Address">The address the server binds: 127.0.0.1 unless <c>--preview-bind</c> (or a loopback
/// address in <c>--preview</c>) names another.</param>
/// <param name="Port">The port; 0 asks the system for a free one (<c>--preview</c> without a port).</param>
/// <param name="Exposed">Whether other machines can reach it (an address that is not loopback): the run then says
/// so on stderr.</param>
internal sealed record PreviewSettings(IPAddress Address, int Port, bool Exposed)
{
    /// <summary>The highest TCP port.</summary>
    public const int HighestPort = 65535;

    /// <summary>
    /// The settings of <c>--preview [[ADDRESS:]PORT]</c> and <c>--preview-bind ADDRESS</c>; null when neither was
    /// given. <paramref name="value"/> is --preview's value (null when given alone).
    /// </summary>
    /// <exception cref="UsageException">A port out of range, an address that is not one, a non-local address in
    /// <c>--preview</c>, or <c>--preview-bind</c> without <c>--preview</c>.</exception>
    public static PreviewSettings? Of(bool preview, string? value, string? bind)
    {
        if (!preview)
        {
            if (bind is null) return null;
            throw new UsageException($"--preview-bind {bind} says where --preview listens: give --preview too.");
        }
        IPAddress? address = null;
        string? port = value;
        int colon = value?.LastIndexOf(':') ?? -1;
        if (value is not null && colon >= 0 && !value.StartsWith('['))
        {
            address = ParseAddress(value[..colon], "--preview");
            port = value[(colon + 1)..];
        }
        else if (value is not null && value.StartsWith('[') && value.IndexOf("]:", StringComparison.Ordinal) is > 0
                     and var end)
        {
            address = ParseAddress(value[1..end], "--preview");
            port = value[(end + 2)..];
        }
        if (address is not null && bind is not null)
        {
            throw new UsageException($"--preview {value} and --preview-bind {bind} both name an address: give it " +
                                     $"once, as --preview-bind {bind} --preview {port}.");
        }
        if (address is not null && !IPAddress.IsLoopback(address))
        {
            throw new UsageException($"--preview {value} would be reachable from other machines; to mean that, " +
                                     $"say so: --preview-bind {address} --preview {port}.");
        }
        address ??= bind is null ? IPAddress.Loopback : ParseAddress(bind, "--preview-bind");
        return new PreviewSettings(address, ParsePort(port), !IPAddress.IsLoopback(address));
    }

    /// <summary>The port of <c>--preview</c>: 1 to <see cref="HighestPort"/>, or 0 (a free one) when left out.
    /// </summary>
    private static int ParsePort(string? text)
    {
        if (text is null) return 0;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int port)
            && port is >= 1 and <= HighestPort)
        {
            return port;
        }
        throw new UsageException($"--preview takes a port from 1 to {HighestPort}, not '{text}' (give --preview " +
                                 "alone for a free port).");
    }

    /// <summary>An IP address as typed (<c>localhost</c> is 127.0.0.1; <c>*</c> is every IPv4 address).</summary>
    private static IPAddress ParseAddress(string text, string option)
    {
        if (text.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        if (text == "*") return IPAddress.Any;
        if (IPAddress.TryParse(text, out var address)) return address;
        throw new UsageException($"{option} takes an IP address (127.0.0.1, 0.0.0.0, ::1, a machine's own " +
                                 $"address), not '{text}'.");
    }
}
