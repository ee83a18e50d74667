using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using IlgpuStyle.Network;
using IlgpuStyle.Network.Images;
using StbImageWriteSharp;

namespace IlgpuStyle.Host;

/// <summary>
/// A run as its page shows it (<c>--preview</c> live, <c>--html-report</c> afterwards): every iteration's losses, the
/// scales, the numbers of the status panel, and the current image. The run's thread writes it at each iteration
/// (<see cref="Step"/>); the preview server's threads read it (<see cref="Message"/>) and pass the page's two buttons
/// to it. It owns the encoding rate: the image is read from the device and encoded only while a viewer is connected,
/// at most once per <see cref="FrameInterval"/>, and encoded off the run's thread.
/// </summary>
internal sealed class RunWatch
{
    /// <summary>The shortest time between two encoded images: at most two a second. On the CPU an encoding takes a
    /// core from the optimizer's threads for as long as it lasts (6 ms at 256 px), and every thread of a parallel
    /// step waits for the slowest: at two a second the run loses about 1% (docs/PERFORMANCE.md).</summary>
    public static readonly TimeSpan FrameInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>The JPEG quality of the page's images (the result file is the run's own).</summary>
    private const int FrameQuality = 80;

    /// <summary>The longer side of the images the page shows while running (the result file is not touched).
    /// </summary>
    private const int FrameSide = 1024;

    /// <summary>The longer side of the content and style images beside it.</summary>
    private const int InputSide = 512;

    private readonly Lock _gate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<double?[]> _points = [];
    private List<ScaleMark> _scales;
    private readonly IReadOnlyList<(string Name, string Source)> _inputs;
    private readonly List<KeyValuePair<string, string>> _options;
    private string _plan;
    private readonly string _device;
    private readonly string _title;
    private readonly Interruption? _interruption;
    private readonly ConcurrentQueue<string> _notes = new();
    private string[] _terms = ["total", "content", "style", "tv"];
    private int _termsVersion;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _viewers;
    private volatile bool _snapshotWanted;
    private (int Number, string Source, string Caption)? _frame;
    private int _frames;
    private int _encoding; // 1 while an image is being encoded
    private TimeSpan _lastFrame = -FrameInterval; // the first image is due at once
    private (int Number, string Text)? _message;
    private ScaleMark? _current;
    private int _iteration;
    private int _offset; // iterations of the scales before the current one
    private long _peakBytes;
    private long _carriedBytes;
    private Stopwatch _scaleClock = new();
    private string _state = "loading";
    private string? _outcome;
    private bool _ended;
    private long _stepTicks;   // the run's thread inside Step, snapshots left out
    private long _encodeTicks; // encodings, on the pool
    private int _encoded;
    private TimeSpan? _loopStart;
    private TimeSpan _loopEnd;

    /// <summary>Watches a run of <paramref name="plan"/> on <paramref name="device"/>; <paramref name="interruption"/>
    /// is what the Stop button requests (Ctrl-C's path).</summary>
    public RunWatch(RunOptions o, RunPlan plan, RunImages images, string device, Interruption? interruption)
    {
        _device = device;
        _interruption = interruption;
        _title = "ilgpu-style: " + (o.Content is null ? "a texture of " : $"{Path.GetFileName(o.Content)} in the " +
                 "style of ") + string.Join(", ", o.Styles.Select(Path.GetFileName));
        (_scales, _plan) = Describe(o, plan);
        var inputs = new List<(string, string)>();
        if (images.Content is { } content) inputs.Add(($"content: {Path.GetFileName(o.Content)}", Jpeg(content)));
        for (int k = 0; k < images.Styles.Count; k++)
            inputs.Add(($"style: {Path.GetFileName(o.Styles[k])}", Jpeg(images.Styles[k])));
        _inputs = inputs;
        _options = OptionRows(o);
    }

    /// <summary>The plan was made again (with the tuned kernels) before the run began.</summary>
    public void Replan(RunOptions o, RunPlan plan)
    {
        lock (_gate) (_scales, _plan) = Describe(o, plan);
    }

    /// <summary>The scales the chart marks and the plan as <c>--dry-run</c> prints it.</summary>
    private static (List<ScaleMark>, string) Describe(RunOptions o, RunPlan plan)
    {
        var scales = plan.Scales.Select(s => new ScaleMark(s.Label ?? $"{s.Shape.Width}x{s.Shape.Height}",
            s.Shape.Width, s.Shape.Height, s.Scale.Iterations, TilesText(s), s.RelativeTime)).ToList();
        using var text = new StringWriter(CultureInfo.InvariantCulture);
        plan.Print(o, text);
        return (scales, text.ToString());
    }

    /// <summary>The page's title: the content and the styles.</summary>
    public string Title => _title;

    /// <summary>How many pages are connected now.</summary>
    public int Viewers => Volatile.Read(ref _viewers);

    /// <summary>Whether the run has ended (the last message sent, the Stop button refused).</summary>
    public bool Ended
    {
        get
        {
            lock (_gate) return _ended;
        }
    }

    // ------------------------------------------------------------------ the run's side (its own thread)

    /// <summary>A scale begins (<paramref name="carriedBytes"/>: what the scale before still holds).</summary>
    public void BeginScale(ScalePlan plan, long carriedBytes)
    {
        lock (_gate)
        {
            if (_current is not null) _offset += _iteration;
            _current = _scales[plan.Index];
            _current.Start = _offset;
            _iteration = 0;
            _carriedBytes = carriedBytes;
            _scaleClock = Stopwatch.StartNew();
            _loopStart ??= _clock.Elapsed;
            _state = "running";
        }
        Pulse();
    }

    /// <summary>
    /// After an iteration (0: the starting image) of <paramref name="scale"/>: records its losses (read when the run
    /// did not, <paramref name="losses"/> null), prints what the page asked for or what happened to it through
    /// <paramref name="line"/>, saves a snapshot when the page asked for one, and reads the image for a viewer when
    /// one is connected and the last image is older than <see cref="FrameInterval"/>.
    /// </summary>
    public void Step(ScaleRun scale, int iteration, LossBreakdown? losses, Action<string> line,
        Action<int, Action<string>> snapshot)
    {
        long started = Stopwatch.GetTimestamp();
        var l = losses ?? scale.ReadLosses();
        long bytes = scale.DeviceBytes;
        lock (_gate)
        {
            _iteration = iteration;
            _peakBytes = Math.Max(_peakBytes, bytes + _carriedBytes);
            if (l.Regions is { Count: > 0 } regions && _terms.Length != 4 + regions.Count)
            {
                _terms = [.. _terms.Take(4), .. Enumerable.Range(1, regions.Count).Select(r => $"style, region {r}")];
                _termsVersion++;
            }
            var point = new double?[1 + _terms.Length];
            point[0] = _offset + iteration;
            point[1] = Finite(l.Total);
            point[2] = Finite(l.Content);
            point[3] = Finite(l.Style);
            point[4] = Finite(l.TotalVariation);
            for (int r = 0; r < (l.Regions?.Count ?? 0) && 5 + r < point.Length; r++)
                point[5 + r] = Finite(l.Regions![r]);
            _points.Add(point);
        }
        while (_notes.TryDequeue(out string? note)) line(note);
        if (_snapshotWanted)
        {
            _stepTicks += Stopwatch.GetTimestamp() - started; // the snapshot is the user's work, not the page's
            _snapshotWanted = false;
            snapshot(iteration, saved =>
            {
                line(saved);
                Say(saved + " (Save snapshot on the preview page).");
            });
            started = Stopwatch.GetTimestamp();
        }
        if (Viewers > 0 && _clock.Elapsed - _lastFrame >= FrameInterval && Volatile.Read(ref _encoding) == 0)
        {
            _lastFrame = _clock.Elapsed;
            string caption = $"{_current?.Label}, iteration {iteration}";
            Encode(scale.Render(), caption); // the device read, on this thread; the encoding on another
        }
        Pulse();
        _stepTicks += Stopwatch.GetTimestamp() - started;
    }

    /// <summary>The run has ended (a second call changes nothing): <paramref name="outcome"/> says how, and
    /// <paramref name="resultFile"/>, the bytes of the image written to <paramref name="resultPath"/> (null when
    /// nothing was), is the page's last image.</summary>
    public void End(string outcome, byte[]? resultFile, string? resultPath)
    {
        lock (_gate)
        {
            if (_ended) return;
            _loopEnd = _clock.Elapsed;
            _state = "ended";
            _outcome = outcome;
            _ended = true;
            if (resultFile is not null)
            {
                _frame = (++_frames, DataUri(resultFile, resultPath!), $"the result: {Path.GetFileName(resultPath)}");
            }
        }
        Pulse();
    }

    /// <summary>
    /// What the page cost the run, for its last line: the time the run's thread spent on it (the losses read, the
    /// image read from the device) and the time its images took to encode, which on a CPU device at worst holds up
    /// the run's parallel steps as long, against the time from the first scale's start to the end.
    /// </summary>
    public string CostLine()
    {
        double step = Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _stepTicks)).TotalSeconds;
        double encode = Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _encodeTicks)).TotalSeconds;
        double loop;
        lock (_gate) loop = ((_ended ? _loopEnd : _clock.Elapsed) - (_loopStart ?? _clock.Elapsed)).TotalSeconds;
        return string.Create(CultureInfo.InvariantCulture,
            $"preview: the page cost the run {step:0.000} s on its thread and {encode:0.000} s encoding " +
            $"{Volatile.Read(ref _encoded)} images, {(loop > 0 ? 100 * (step + encode) / loop : 0):0.0}% of its " +
            $"{loop:0.0} s.");
    }

    /// <summary>The one line the Stop button or a viewer should read next on the page.</summary>
    public void Say(string text)
    {
        lock (_gate) _message = ((_message?.Number ?? 0) + 1, text);
        Pulse();
    }

    // ------------------------------------------------------------------ the page's side (the server's threads)

    /// <summary>A page connected; dispose the result when it leaves. The run prints one line for each.</summary>
    public IDisposable Connect()
    {
        int now = Interlocked.Increment(ref _viewers);
        _notes.Enqueue($"preview: a page is watching ({now} now).");
        return new Viewer(this);
    }

    /// <summary>The Stop button: the run stops after the current iteration, saving the image and the report,
    /// exactly as Ctrl-C does; returns what the page shows.</summary>
    public string RequestStop()
    {
        if (Ended) return "The run has already ended.";
        if (_interruption is null) return "This run cannot be stopped from the page.";
        _interruption.Request(PosixSignal.SIGINT, "Stop (the preview page)");
        _notes.Enqueue("preview: Stop pressed on the page; stopping after this iteration, as Ctrl-C does.");
        Say("Stopping after the current iteration; the image and report will be saved.");
        return "Stopping after the current iteration; the image and report will be saved.";
    }

    /// <summary>The Save snapshot button: the run saves the current image after this iteration.</summary>
    public string RequestSnapshot()
    {
        if (Ended) return "The run has already ended.";
        _snapshotWanted = true;
        return "A snapshot will be saved after the current iteration.";
    }

    /// <summary>Completes when something changed after <paramref name="cursor"/> was last written.</summary>
    public Task Changed(Cursor cursor)
    {
        lock (_gate) return cursor.Version == Version ? _changed.Task : Task.CompletedTask;
    }

    /// <summary>
    /// The page's next message as JSON: everything on the first call, then what changed since the cursor's last
    /// message (new points, a new image, the status); a report (<paramref name="cursor"/> null) has everything, the
    /// options and the plan included.
    /// </summary>
    public string Message(Cursor? cursor)
    {
        lock (_gate)
        {
            bool all = cursor is null || !cursor.Started;
            var m = new JsonObject();
            if (all)
            {
                m["title"] = _title;
                m["inputs"] = new JsonArray([.. _inputs.Select(i => new JsonObject
                {
                    ["name"] = i.Name, ["src"] = i.Source,
                })]);
            }
            if (all || cursor!.Terms != _termsVersion) m["terms"] = new JsonArray([.. _terms.Select(t => (JsonNode)t)]);
            m["scales"] = new JsonArray([.. _scales.Select(s => s.ToJson())]);
            int from = all ? 0 : Math.Min(cursor!.Points, _points.Count);
            m["from"] = from;
            m["points"] = new JsonArray([.. _points.Skip(from).Select(p => new JsonArray([.. p.Select(v => v is
                { } d ? JsonValue.Create(d) : null)]))]);
            if (_frame is { } f && (all || cursor!.Frame != f.Number))
                m["frame"] = new JsonObject { ["n"] = f.Number, ["src"] = f.Source, ["caption"] = f.Caption };
            // A report leaves the page's last message out: it was news to a live page only.
            if (_message is { } message && cursor is not null && (all || cursor.Message != message.Number))
                m["message"] = message.Text;
            m["status"] = Status();
            m["ended"] = _ended;
            if (cursor is null)
            {
                m["options"] = new JsonArray([.. _options.Select(o => new JsonArray(o.Key, o.Value))]);
                m["plan"] = _plan;
            }
            else
            {
                cursor.Started = true;
                cursor.Points = _points.Count;
                cursor.Terms = _termsVersion;
                cursor.Frame = _frame?.Number ?? 0;
                cursor.Message = _message?.Number ?? 0;
                cursor.Version = Version;
            }
            return m.ToJsonString();
        }
    }

    /// <summary>What a page has been sent so far.</summary>
    internal sealed class Cursor
    {
        public bool Started;
        public int Points;
        public int Terms;
        public int Frame;
        public int Message;
        public long Version;
    }

    private long Version { get; set; }

    private void Pulse()
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            Version++;
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    private JsonObject Status()
    {
        double seconds = _scaleClock.Elapsed.TotalSeconds;
        double rate = _iteration > 0 && seconds > 0 ? _iteration / seconds : 0;
        return new JsonObject
        {
            ["state"] = _state,
            ["outcome"] = _outcome,
            ["iteration"] = _iteration,
            ["iterations"] = _current?.Iterations ?? 0,
            ["scale"] = _scales.Count > 1 && _current is not null ? _current.Label : null,
            ["tiles"] = _current?.Tiles,
            ["rate"] = rate,
            ["eta"] = rate > 0 ? Remaining(rate) : null,
            ["elapsed"] = _clock.Elapsed.TotalSeconds,
            ["device"] = _device,
            ["peakBytes"] = _peakBytes,
        };
    }

    /// <summary>Seconds left at <paramref name="rate"/>: this scale's iterations, and each later scale's taken to
    /// cost its pixels (and tiles' extra arithmetic) relative to this one.</summary>
    private double Remaining(double rate)
    {
        var now = _current!;
        double seconds = (now.Iterations - _iteration) / rate;
        foreach (var later in _scales.SkipWhile(s => s != now).Skip(1))
        {
            double cost = (double)later.Width * later.Height * later.RelativeTime /
                          ((double)now.Width * now.Height * now.RelativeTime);
            seconds += later.Iterations * cost / rate;
        }
        return seconds;
    }

    /// <summary>Encodes the image on the thread pool, smaller when it is large, and publishes it.</summary>
    private void Encode(FloatRgbImage image, string caption)
    {
        Interlocked.Exchange(ref _encoding, 1);
        _ = Task.Run(() =>
        {
            long started = Stopwatch.GetTimestamp();
            try
            {
                string source = Jpeg(image.ToBytes(), FrameSide, FrameQuality);
                lock (_gate)
                {
                    if (_ended) return; // the result is already shown
                    _frame = (++_frames, source, caption);
                }
                Pulse();
            }
            finally
            {
                Interlocked.Add(ref _encodeTicks, Stopwatch.GetTimestamp() - started);
                Interlocked.Increment(ref _encoded);
                Interlocked.Exchange(ref _encoding, 0);
            }
        });
    }

    /// <summary>An image as a JPEG data URI, at most <paramref name="side"/> pixels on its longer side.</summary>
    private static string Jpeg(RgbImage image, int side = InputSide, int quality = 90)
    {
        if (Math.Max(image.Width, image.Height) > side) image = ImageResize.ToLongerSide(image, side);
        using var stream = new MemoryStream();
        new ImageWriter().WriteJpg(image.Pixels, image.Width, image.Height, ColorComponents.RedGreenBlue, stream,
            quality);
        return "data:image/jpeg;base64," + Convert.ToBase64String(stream.ToArray());
    }

    /// <summary>An image file's bytes as a data URI, its type from its extension.</summary>
    public static string DataUri(byte[] file, string path) =>
        (ImageFiles.IsPng(path) ? "data:image/png;base64," : "data:image/jpeg;base64,") + Convert.ToBase64String(file);

    private static double? Finite(float value) => float.IsFinite(value) ? value : null;

    private static string? TilesText(ScalePlan s) =>
        s.Tiles is { } t ? $"{t.Rows}x{t.Columns} tiles, core {t.Core} px, halo {t.Halo} px" : null;

    /// <summary>The options as the report's table shows them: every option of <see cref="RunOptions"/>, nested
    /// records on one line.</summary>
    private static List<KeyValuePair<string, string>> OptionRows(RunOptions o)
    {
        // The preview's address is said in words (an IPAddress is no JSON value).
        var json = JsonSerializer.SerializeToElement(o with { Preview = null }, new JsonSerializerOptions
        {
            IncludeFields = true,
            Converters = { new JsonStringEnumConverter() },
            NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        });
        return json.EnumerateObject().Select(p => new KeyValuePair<string, string>(p.Name,
            p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!,
                JsonValueKind.Null => "-",
                _ => p.Value.GetRawText(),
            })).Select(row => row.Key != nameof(RunOptions.Preview) || o.Preview is not { } preview
                ? row
                : new(row.Key, $"{preview.Address}, port {(preview.Port == 0 ? "chosen free" : preview.Port)}"))
            .ToList();
    }

    /// <summary>One scale as the page marks it: where it began on the iteration axis, once it has.</summary>
    private sealed class ScaleMark(string label, int width, int height, int iterations, string? tiles,
        double relativeTime)
    {
        public string Label => label;
        public int Width => width;
        public int Height => height;
        public int Iterations => iterations;
        public string? Tiles => tiles;
        public double RelativeTime => relativeTime;
        public int? Start { get; set; }

        public JsonObject ToJson() => new()
        {
            ["label"] = label, ["size"] = new JsonArray(width, height), ["iterations"] = iterations,
            ["tiles"] = tiles, ["start"] = Start,
        };
    }

    private sealed class Viewer(RunWatch watch) : IDisposable
    {
        private int _left;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) == 1) return;
            int now = Interlocked.Decrement(ref watch._viewers);
            if (!watch.Ended) watch._notes.Enqueue($"preview: a page closed; the run goes on ({now} watching).");
        }
    }
}
