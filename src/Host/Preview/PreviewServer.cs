using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace IlgpuStyle.Host;

/// <summary>
/// <c>--preview</c>: Kestrel serving the page of one run (<see cref="RunWatch"/>) for as long as it lasts. Four
/// addresses, each refused without the token the URL carries: the page (<c>/</c>), its events (<c>/events</c>,
/// server-sent: the run pushes, nothing polls), and the two buttons (<c>POST /stop</c>, <c>POST /snapshot</c>). The
/// page takes no other input. Where it listens is <see cref="PreviewSettings"/>'s to say.
/// </summary>
internal sealed class PreviewServer : IDisposable
{
    /// <summary>The shortest time between two messages to one page (each carries every change since the last).
    /// </summary>
    private static readonly TimeSpan MessageInterval = TimeSpan.FromMilliseconds(250);

    private readonly WebApplication _app;
    private readonly RunWatch _watch;
    private readonly byte[] _token;
    private readonly string _page;
    private TextWriter _output = TextWriter.Null;

    private PreviewServer(WebApplication app, RunWatch watch, string token)
    {
        _app = app;
        _watch = watch;
        _token = Encoding.ASCII.GetBytes(token);
        _page = PageTemplate.Live(watch.Title);
    }

    /// <summary>The page's address, token included.</summary>
    public string Url { get; private set; } = "";

    /// <summary>
    /// Starts serving <paramref name="watch"/>'s run where <paramref name="settings"/> say, prints its URL on
    /// <paramref name="output"/> and, when other machines can reach it, a warning on <paramref name="error"/>.
    /// </summary>
    /// <exception cref="UsageException">The port is in use, or the address cannot be listened on: one line.
    /// </exception>
    public static PreviewServer Start(PreviewSettings settings, RunWatch watch, TextWriter output, TextWriter error)
    {
        // An empty builder: no configuration (ASPNETCORE_URLS cannot move it), no logging, Kestrel alone.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(settings.Address, settings.Port);
        });
        var app = builder.Build();
        string token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18)).Replace('+', '-').Replace('/', '_');
        var server = new PreviewServer(app, watch, token);
        app.Run(server.Handle);
        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or SocketException or InvalidOperationException)
        {
            ((IDisposable)app).Dispose();
            string where = $"{Host(settings.Address)}:{settings.Port}";
            bool inUse = e is Microsoft.AspNetCore.Connections.AddressInUseException ||
                         e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException ||
                         (e as SocketException ?? e.InnerException as SocketException)?.SocketErrorCode ==
                         SocketError.AddressAlreadyInUse;
            throw new UsageException(inUse
                ? $"--preview: port {settings.Port} is in use on {Host(settings.Address)}; choose another port, or " +
                  "give --preview alone for a free one."
                : $"--preview: cannot listen on {where} ({(e.InnerException ?? e).Message.TrimEnd('.')}).");
        }
        var address = new Uri(app.Urls.First());
        string host = settings.Address.Equals(IPAddress.Any) || settings.Address.Equals(IPAddress.IPv6Any)
            ? Dns.GetHostName()
            : Host(settings.Address);
        server.Url = $"http://{host}:{address.Port}/?token={token}";
        server._output = output;
        output.WriteLine($"Preview: {server.Url} (open it in a browser; it lasts as long as the run).");
        if (settings.Exposed)
        {
            error.WriteLine($"warning: the preview listens on {Host(settings.Address)}:{address.Port} " +
                            "(--preview-bind), reachable from other machines: anyone with its URL, token included, " +
                            "can watch and stop the run.");
        }
        return server;
    }

    /// <summary>Stops serving: each page is sent the run's end first (up to a second's grace), and the last line
    /// says what the page cost the run. A run that ended without a result (an error, said on the terminal) ends
    /// here.</summary>
    public void Dispose()
    {
        _watch.End("failed (the terminal says why)", resultFile: null, resultPath: null);
        _output.WriteLine(_watch.CostLine());
        try
        {
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            _app.StopAsync(grace.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            // A page that did not read its last message in time: the run is over anyway.
        }
        ((IDisposable)_app).Dispose();
    }

    private static string Host(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();

    private async Task Handle(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        response.Headers.CacheControl = "no-store";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        if (!Authorized(request))
        {
            await Text(response, StatusCodes.Status403Forbidden,
                "This preview needs the token its run printed with the URL (?token=...).");
            return;
        }
        switch (request.Method, request.Path.Value)
        {
            case ("GET", "/"):
                response.ContentType = "text/html; charset=utf-8";
                // The page runs its own inline script and draws data: images; it loads nothing from elsewhere.
                response.Headers.ContentSecurityPolicy = "default-src 'none'; img-src data:; style-src " +
                                                         "'unsafe-inline'; script-src 'unsafe-inline'; " +
                                                         "connect-src 'self'";
                await response.WriteAsync(_page, context.RequestAborted);
                break;
            case ("GET", "/events"):
                await Events(context);
                break;
            case ("POST", "/stop"):
                await Text(response, StatusCodes.Status202Accepted, _watch.RequestStop());
                break;
            case ("POST", "/snapshot"):
                await Text(response, StatusCodes.Status202Accepted, _watch.RequestSnapshot());
                break;
            default:
                await Text(response, StatusCodes.Status404NotFound, "Not here: this preview has only its page.");
                break;
        }
    }

    /// <summary>Whether the request carries the token, compared in constant time.</summary>
    private bool Authorized(HttpRequest request)
    {
        string? given = request.Query["token"];
        return given is not null &&
               CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(given), _token);
    }

    /// <summary>
    /// The run's events for one page: everything at once, then what changed, at most one message per
    /// <see cref="MessageInterval"/>, until the run ends (its last message says so) or the page leaves.
    /// </summary>
    private async Task Events(HttpContext context)
    {
        var response = context.Response;
        var aborted = context.RequestAborted;
        response.ContentType = "text/event-stream";
        using var viewer = _watch.Connect();
        var cursor = new RunWatch.Cursor();
        try
        {
            while (!aborted.IsCancellationRequested)
            {
                bool ended = _watch.Ended; // then this message is the last, and says so
                await response.WriteAsync($"data: {_watch.Message(cursor)}\n\n", aborted);
                await response.Body.FlushAsync(aborted);
                if (ended) break;
                await _watch.Changed(cursor).WaitAsync(aborted);
                await Task.Delay(MessageInterval, aborted);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The page closed or its connection broke: the viewer leaves (one line), and the run goes on.
        }
    }

    private static async Task Text(HttpResponse response, int status, string text)
    {
        response.StatusCode = status;
        response.ContentType = "text/plain; charset=utf-8";
        await response.WriteAsync(text + "\n");
    }
}
