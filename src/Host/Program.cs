using IlgpuStyle.Host;

// A live progress bar only where a person watches: stdout is a terminal.
bool live = !Console.IsOutputRedirected;
return Cli.Run(args, Console.Out, Console.Error, live);
