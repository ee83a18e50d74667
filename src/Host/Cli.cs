using System.CommandLine;
using IlgpuStyle.Kernels;

namespace IlgpuStyle.Host;

/// <summary>
/// The command line of <c>ilgpu-style</c>: the commands, their options, and the one place where
/// errors a user can fix become a one-line message and a non-zero exit code.
/// </summary>
internal static class Cli
{
    /// <summary>Exit code for a run that completed but found a problem (a failed check).</summary>
    public const int ExitFailed = 1;

    /// <summary>Exit code for a request that could not be carried out (bad input, no such device).</summary>
    public const int ExitUsage = 2;

    /// <summary>Parses <paramref name="args"/>, runs the command and returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = new RootCommand("ilgpu-style: neural style transfer (Gatys et al.) with hand-written ILGPU kernels.");
        root.Subcommands.Add(DevicesCommand(output, error));
        root.Subcommands.Add(VerifyCommand(output, error));
        var configuration = new InvocationConfiguration { Output = output, Error = error };
        return root.Parse(args).Invoke(configuration);
    }

    private static Option<string> DeviceOption() => new("--device")
    {
        Description = $"The device to run on: {Devices.Choices}.",
        DefaultValueFactory = _ => "auto",
    };

    private static Command DevicesCommand(TextWriter output, TextWriter error)
    {
        var command = new Command("devices", "List the accelerators ILGPU can use (type, name, memory, compute units).");
        command.SetAction(_ => Guarded(error, () => DeviceList.Print(output)));
        return command;
    }

    private static Command VerifyCommand(TextWriter output, TextWriter error)
    {
        var device = DeviceOption();
        var filter = new Option<string?>("--kernel")
        {
            Description = "Run only the checks whose kernel name starts with this (e.g. conv2d, gram.backward).",
        };
        var command = new Command("verify",
            "Check every kernel against its CPU reference on one device and print a table (kernel, shape, max abs/rel error, pass).");
        command.Options.Add(device);
        command.Options.Add(filter);
        command.SetAction(parse => Guarded(error,
            () => Verification.Run(output, parse.GetValue(device)!, parse.GetValue(filter))));
        return command;
    }

    /// <summary>
    /// Runs a command body; errors the user can act on print one line (no stack trace) and return
    /// <see cref="ExitUsage"/>.
    /// </summary>
    internal static int Guarded(TextWriter error, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (DeviceSelectionException e)
        {
            error.WriteLine($"error: {e.Message}");
            return ExitUsage;
        }
        catch (ILGPU.Runtime.AcceleratorException e)
        {
            error.WriteLine($"error: the device failed: {e.Message.ReplaceLineEndings(" ")} Check the driver, or use --device cpu.");
            return ExitUsage;
        }
    }
}
