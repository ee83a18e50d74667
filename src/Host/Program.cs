using IlgpuStyle.Host;

// A live progress bar only where a person watches: stdout is a terminal.
bool live = !Console.IsOutputRedirected;
// Ctrl-C and SIGTERM during the optimization save the image so far (Interruption).
using var interruption = Interruption.Listen();
return Cli.Run(args, Console.Out, Console.Error, live, interruption);
