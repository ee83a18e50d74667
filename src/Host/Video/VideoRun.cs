using System.CommandLine;
using System.Diagnostics;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Weights.Files;

namespace IlgpuStyle.Host;

/// <summary>What <c>ilgpu-style video</c> was asked to do.</summary>
/// <param name="Input">A video file or a folder of frames.</param>
/// <param name="Output">The stylised video (.avi or .mp4), or null for frames only.</param>
/// <param name="FramesFolder">Where the stylised frames go; null: beside <paramref name="Output"/>.</param>
/// <param name="TemporalWeight"><c>--temporal-weight</c>, or null for the weights' convention's default.</param>
/// <param name="LongTerm">How many previous frames hold frame t in place (1: the short-term loss).</param>
/// <param name="Warmup">Frames a shard renders before its chunk and discards.</param>
/// <param name="Join">Only assemble the video from the frames (after a sharded run).</param>
/// <param name="ShardOption"><c>--shard INDEX/COUNT</c>, or null.</param>
/// <param name="ShardCount"><c>--shard-count</c>, or null.</param>
/// <param name="Verbose">Print each frame's run as the main job prints it.</param>
/// <param name="Shared">The main job's options, for every frame.</param>
internal sealed record VideoOptions(string Input, string? Output, string? FramesFolder, float? TemporalWeight,
    int LongTerm, int Warmup, bool Join, string? ShardOption, int? ShardCount, bool Verbose,
    IReadOnlyList<string> Shared);

/// <summary>
/// <c>ilgpu-style video</c>: a video stylised frame by frame with Ruder, Dosovitskiy and Brox's temporal consistency
/// (2016). Frame 1 is stylised as the main job would; frame t starts from the stylised frame t - 1 warped onto it by
/// the optical flow, and the temporal loss holds it near that warped image wherever the flow is reliable
/// (<see cref="FlowReliability"/>), and with <c>--long-term N</c> near the N previous frames'. The weights, the device,
/// its kernels and the objective are loaded once for all frames (<see cref="RunSession"/>).
/// </summary>
/// <remarks>
/// Each frame is written atomically as FRAMES/frame_00001.png, ...; a frame that exists is finished and skipped, so a
/// stopped run resumes, reading the finished frames the next one needs from disk. Every frame is held in place by the
/// frames as they were written (8 bits), whether they were rendered in this process or read back, so a resumed run
/// gives the frames an uninterrupted one gives. A shard renders its chunk of the frames (<see cref="VideoChunk"/>)
/// after warm-up frames kept apart in FRAMES/.warmup-I-of-N; <c>--join</c> assembles the video from the frames.
/// </remarks>
internal static class VideoRun
{
    /// <summary>The name of frame <paramref name="t"/> (from 1) in the frames folder.</summary>
    public static string FrameName(int t) => $"frame_{t:D5}.png";

    /// <summary>Options of the main job that mean nothing, or something else, for a video's frames.</summary>
    private static readonly (string Name, string Why)[] Refused =
    [
        ("--content", "the frames are the content: give the video with --input"),
        ("--init-image", "frame t starts from frame t - 1's result warped; --init sets how frame 1 starts"),
        ("--min-size", "a video renders each frame at one size (the temporal target is at --size)"),
        ("--schedule", "a video renders each frame at one size (the temporal target is at --size)"),
        ("--report", "the video prints seconds per frame and per evaluation itself"),
        ("--save-every", "a video writes finished frames only"),
        ("--dry-run", "plan one frame with the main job: ilgpu-style --content FRAME.png --dry-run"),
        ("--tune", "tune once with the main job on one frame; its cache is not read by a video"),
        ("--content-mask", "masks belong to one image, not to a moving picture"),
        ("--content-masks", "masks belong to one image, not to a moving picture"),
        ("--style-masks", "masks belong to one image, not to a moving picture"),
        ("--texture-size", "a video's frames have their own size"),
        ("--preview", "it watches one run; watch one frame with the main job, or write the frames' pages with " +
                      "--html-report"),
        ("--preview-bind", "a video serves no live page (see --preview)"),
    ];

    /// <summary>Runs the video (or with --join assembles it); returns 0, <see cref="ExitCodes.Failed"/> when a frame
    /// failed or the input has frames that cannot be used, or a signal's code.</summary>
    public static int Execute(VideoOptions v, TextWriter output, TextWriter error, Interruption? interruption,
        Func<string, string?>? environment = null, IOpticalFlow? flow = null)
    {
        var clock = Stopwatch.StartNew();
        var o = v.Join ? null : Options(v); // a join renders nothing: the main job's options are not needed
        string frames = FramesFolder(v);
        if (v.Output is not null) VideoFrames.Codec(v.Output);
        OpenCv.Version();
        var shard = Shard.Of(v.ShardOption, v.ShardCount, environment ?? Environment.GetEnvironmentVariable);
        var source = new VideoFrames(v.Input);
        var input = source.Scan();
        output.WriteLine($"Video {v.Input}: {input.Count} frames of {input.Width}x{input.Height} at " +
                         $"{input.Fps:0.##} fps" + (input.Problem is null ? "" : $" (then: {input.Problem})") + ".");
        if (v.Join) return Join(v, input, frames, output, error);

        var chunk = VideoChunk.Of(shard, input.Count, v.Warmup);
        if (shard.Count > 1)
        {
            output.WriteLine(chunk is null
                ? $"Shard {shard.Index} of {shard.Count} ({shard.Source}) has no frames: the video has " +
                  $"{input.Count}."
                : $"Shard {shard.Index} of {shard.Count} ({shard.Source}): frames {chunk.First} to {chunk.Last}" +
                  (chunk.Start < chunk.First ? $" after warm-up frames {chunk.Start} to {chunk.First - 1}" : "") +
                  ".");
        }
        int exit = 0;
        if (chunk is not null)
        {
            BatchRun.MakeOutputFolder(frames, "--frames-dir");
            string warmup = Path.Combine(frames, $".warmup-{shard.Index}-of-{shard.Count}");
            if (chunk.Start < chunk.First) Directory.CreateDirectory(warmup);
            var render = new FrameRenderer(v, o!, source, chunk, frames, warmup, flow ?? new FarnebackFlow(), output,
                error, interruption);
            exit = render.Run(clock);
            if (o!.HtmlReport is { } index)
            {
                HtmlReport.WriteIndexOrSay(shard.Own(index), $"ilgpu-style video: {Path.GetFileName(v.Input)}",
                    render.Rows, "frames", output, error);
            }
            if (exit != 0 && interruption?.Requested == true) return exit;
        }
        if (input.Problem is not null)
        {
            error.WriteLine($"error: {v.Input}: {input.Problem}; frames 1 to {input.Count} were used.");
            exit = ExitCodes.Failed;
        }
        if (exit == 0 && shard.Count == 1 && v.Output is not null) return Join(v, input, frames, output, error);
        if (v.Output is not null && shard.Count > 1)
        {
            output.WriteLine($"When every shard has finished: the same command with --join (and without --shard) " +
                             $"writes {v.Output}.");
        }
        return exit;
    }

    /// <summary>The main job's options for every frame, from the video's command line; the main job's own
    /// checks apply, and options that mean nothing for a video are refused in one line.</summary>
    private static RunOptions Options(VideoOptions v)
    {
        var names = BatchItems.Names(v.Shared);
        foreach (var (name, why) in Refused)
        {
            if (names.Contains(name)) throw new UsageException($"{name} is not for a video: {why}.");
        }
        var root = new RootCommand();
        var parser = new StyleOptionsParser(root);
        // The content is named so that the main job's rules see a content run (a texture would start from noise).
        var parse = root.Parse([.. v.Shared, "--content", v.Input]);
        if (parse.Errors.Count > 0) throw new UsageException(parse.Errors[0].Message.ReplaceLineEndings(" "));
        var o = parser.Read(parse);
        return o with { Style = o.Style with { TemporalWeight = v.TemporalWeight } };
    }


    /// <summary>--frames-dir, else the output's name with _frames beside it.</summary>
    private static string FramesFolder(VideoOptions v)
    {
        if (v.FramesFolder is { } folder) return folder;
        if (v.Output is null)
            throw new UsageException("Give --output VIDEO (.avi or .mp4), --frames-dir FOLDER, or both.");
        string directory = Path.GetDirectoryName(Path.GetFullPath(v.Output))!;
        return Path.Combine(directory, Path.GetFileNameWithoutExtension(v.Output) + "_frames");
    }

    /// <summary>Assembles the video from frames 1 to the input's last usable one; a frame missing (a shard not
    /// finished) is one line and nothing is written. An output that exists is kept.</summary>
    private static int Join(VideoOptions v, VideoInput input, string frames, TextWriter output, TextWriter error)
    {
        if (v.Output is null) throw new UsageException("--join needs --output VIDEO: the file to assemble.");
        if (File.Exists(v.Output))
        {
            output.WriteLine($"{v.Output} exists: kept (delete it to assemble it again).");
            return input.Problem is null ? 0 : ExitCodes.Failed;
        }
        var missing = Enumerable.Range(1, input.Count)
            .Where(t => !File.Exists(Path.Combine(frames, FrameName(t)))).ToList();
        if (missing.Count > 0)
        {
            error.WriteLine($"error: {v.Output}: {missing.Count} of {input.Count} frames are not in {frames} yet " +
                            $"(the first: {FrameName(missing[0])}); render them first. Nothing was written.");
            return ExitCodes.Failed;
        }
        var first = ImageFiles.Load(Path.Combine(frames, FrameName(1)), "frame");
        var all = Enumerable.Range(1, input.Count).Select(t =>
        {
            var image = t == 1 ? first : ImageFiles.Load(Path.Combine(frames, FrameName(t)), "frame");
            if (image.Width != first.Width || image.Height != first.Height)
            {
                throw new RunFailedException($"{FrameName(t)} in {frames} is {image.Width}x{image.Height}, frame 1 " +
                                             $"{first.Width}x{first.Height}; nothing was written.");
            }
            return image;
        });
        try
        {
            VideoFrames.Write(v.Output, all, input.Fps, first.Width, first.Height);
        }
        catch (IOException e)
        {
            throw new RunFailedException($"could not write {v.Output} ({e.Message.TrimEnd('.')}); nothing was " +
                                         "written.");
        }
        output.WriteLine($"Wrote {v.Output}: {input.Count} frames of {first.Width}x{first.Height} at " +
                         $"{input.Fps:0.##} fps.");
        if (input.Problem is null) return 0;
        error.WriteLine($"error: {v.Input}: {input.Problem}; {v.Output} has frames 1 to {input.Count}.");
        return ExitCodes.Failed;
    }

    /// <summary>One chunk's frames rendered in order, each held in place by the ones before.</summary>
    private sealed class FrameRenderer(VideoOptions v, RunOptions o, VideoFrames source, VideoChunk chunk,
        string frames, string warmup, IOpticalFlow flow, TextWriter output, TextWriter error,
        Interruption? interruption)
    {
        private readonly Dictionary<int, RgbImage> _content = []; // frames at the run's size, the last LongTerm + 1
        private readonly Dictionary<int, RgbImage> _stylised = []; // results as written, the last LongTerm
        private RunSession? _session;
        private RunPlan? _plan;
        private IReadOnlyList<RgbImage>? _styles;
        private readonly RenderTally _tally = new();
        private double _flowSeconds, _frameSeconds;
        private StyleRun.RunDevice? _run;
        private int _rendered, _skipped, _warmups;

        /// <summary>The index page's rows (<c>--html-report</c>): the chunk's frames, warm-up frames left out.
        /// </summary>
        public List<HtmlReport.IndexRow> Rows { get; } = [];

        /// <summary>Frame <paramref name="t"/>'s own page beside it, when the video has an index page.</summary>
        private string? PageOf(int t) =>
            o.HtmlReport is null || chunk.IsWarmup(t) ? null : Path.ChangeExtension(PathOf(t), ".html");

        private void Row(int t, string outcome, bool written)
        {
            if (o.HtmlReport is not null && !chunk.IsWarmup(t))
                Rows.Add(new(FrameName(t), outcome, written ? PathOf(t) : null, written ? PageOf(t) : null));
        }

        private string PathOf(int t) => Path.Combine(chunk.IsWarmup(t) ? warmup : frames, FrameName(t));

        public int Run(Stopwatch clock)
        {
            using var session = new RunSession(output, "once for the video", "frame");
            _session = session;
            int exit = 0, count = chunk.Last - chunk.Start + 1, k = 0;
            int t = chunk.Start;
            foreach (var frame in source.Frames(chunk.Last).Skip(chunk.Start - 1))
            {
                interruption?.Arm();
                if (interruption?.Requested == true) break;
                string head = $"[{++k}/{count}] frame {t}{(chunk.IsWarmup(t) ? " (warm-up)" : "")}:";
                _content[t] = frame;
                _content.Remove(t - v.LongTerm - 1);
                _stylised.Remove(t - v.LongTerm - 1);
                try
                {
                    exit = RenderFrame(t, head);
                }
                catch (Exception e) when (Reported(e))
                {
                    string reason = e.Message.ReplaceLineEndings(" ").Trim();
                    output.WriteLine($"{head} failed: {reason}");
                    string rest = t < chunk.Last ? $"; frames {t + 1} to {chunk.Last} not rendered (each starts " +
                                                   "from the one before)" : "";
                    error.WriteLine($"error: {v.Input} frame {t}: {reason}{rest}");
                    exit = ExitCodes.Failed;
                    Row(t, $"failed: {reason}", written: false);
                }
                if (exit != 0) break;
                t++;
            }
            interruption?.Disarm();
            string timing = _rendered == 0 ? "" :
                $"; {_frameSeconds / _rendered:0.###} s a frame, " +
                $"{_tally.Seconds / Math.Max(1, _tally.Evaluations):0.####} s an " +
                $"evaluation ({_tally.Evaluations} evaluations, {_tally.Evaluations / (double)_rendered:0.#} a " +
                $"frame), optical flow {_flowSeconds / _rendered:0.###} s a frame";
            output.WriteLine($"Frames done in {ProgressDisplay.FormatDuration(clock.Elapsed.TotalSeconds)}: " +
                             $"{_rendered} rendered" + (_warmups > 0 ? $" ({_warmups} warm-up)" : "") +
                             $", {_skipped} skipped{timing}" +
                             (interruption?.Requested == true ? $"; stopped by {interruption.SignalName}" : "") + ".");
            return interruption?.Requested == true ? interruption.ExitCode : exit;
        }

        private static bool Reported(Exception e) => e is UsageException or RunFailedException or IOException
            or UnauthorizedAccessException or ILGPU.Runtime.AcceleratorException or OutOfMemoryException
            or Network.StyleSetupException;

        private int RenderFrame(int t, string head)
        {
            string path = PathOf(t);
            if (File.Exists(path))
            {
                output.WriteLine($"{head} skipped, {path} exists (a finished frame is kept).");
                Row(t, "skipped: the frame exists", written: true);
                _skipped++;
                return 0;
            }
            var frameClock = Stopwatch.StartNew();
            var run = Start();
            var shape = _plan!.Scales[0].Shape;
            var content = Sized(t, shape.Width, shape.Height);
            var temporal = Temporal(t, shape.Width, shape.Height);
            var frame = o with
            {
                Content = $"{v.Input} frame {t}",
                Output = path,
                Init = temporal is null ? o.Init : InitKind.Image,
                HtmlReport = PageOf(t),
            };
            var images = new RunImages(content, null, (shape.Width, shape.Height), _styles!,
                temporal?.Init, Temporal: temporal?.Target);
            int evaluations = _tally.Evaluations;
            var log = v.Verbose ? output : TextWriter.Null;
            int exit = StyleRun.Render(run, frame, images, _plan, log, live: false, interruption, Stopwatch.StartNew(),
                finishedOnly: true, tally: _tally);
            if (exit != 0) return exit;
            Row(t, "done", written: true);
            _stylised[t] = ImageFiles.Load(path, "stylised frame"); // as written: what a resumed run reads
            _rendered++;
            _frameSeconds += frameClock.Elapsed.TotalSeconds;
            if (chunk.IsWarmup(t)) _warmups++;
            string reliable = temporal is { } held
                ? $", reliable flow at {100.0 * held.Target.Weights.Average():0.#}% of pixels"
                : "";
            output.WriteLine($"{head} done, wrote {path} in " +
                             $"{ProgressDisplay.FormatDuration(frameClock.Elapsed.TotalSeconds)} " +
                             $"({_tally.Evaluations - evaluations} evaluations{reliable}).");
            return 0;
        }

        /// <summary>Starts the device and plans the frames, once (the frames have one size).</summary>
        private StyleRun.RunDevice Start()
        {
            if (_run is not null) return _run;
            var session = _session!;
            var run = session.Start(o, v.Verbose);
            var limit = o.MaxMemory is null ? session.Limit! : MemoryLimit.Of(o.MaxMemory, run.Accelerator);
            _styles = o.Styles.Select(session.Styles.Load).ToList();
            var first = _content.Values.First();
            _plan = RunPlanner.Plan(o, ScaleSchedule.Of(o), run.Weights, (first.Width, first.Height),
                _styles.Select(s => (s.Width, s.Height)).ToList(), session.Choice!, limit, temporal: true);
            foreach (string note in _plan.Notes) output.WriteLine($"note: {note}");
            _run = run;
            return run;
        }

        /// <summary>Frame <paramref name="t"/> at the run's size.</summary>
        private RgbImage Sized(int t, int width, int height)
        {
            var frame = _content[t];
            if (frame.Width == width && frame.Height == height) return frame;
            var sized = ImageResize.Resize(frame, width, height);
            _content[t] = sized;
            return sized;
        }

        /// <summary>A finished frame's result: as rendered in this process, or read from its file.</summary>
        private RgbImage Stylised(int t)
        {
            if (_stylised.TryGetValue(t, out var image)) return image;
            image = ImageFiles.Load(PathOf(t), "stylised frame");
            _stylised[t] = image;
            return image;
        }

        /// <summary>
        /// Frame <paramref name="t"/>'s start and temporal target from the previous frames of the chunk (up to
        /// --long-term of them): each warped by the backward flow, its reliable pixels found by the forward-backward
        /// check, the long-term weights giving each pixel to the nearest frame that saw it. Null for the chunk's
        /// first frame.
        /// </summary>
        private (RgbImage Init, TemporalTarget Target)? Temporal(int t, int width, int height)
        {
            int back = Math.Min(v.LongTerm, t - chunk.Start);
            if (back == 0) return null;
            var flowClock = Stopwatch.StartNew();
            var current = Sized(t, width, height);
            var warped = new List<RgbImage>();
            var weights = new List<float[]>();
            for (int j = 1; j <= back; j++)
            {
                var previous = Sized(t - j, width, height);
                var backward = flow.Estimate(current, previous);
                var forward = flow.Estimate(previous, current);
                var result = Stylised(t - j);
                if (result.Width != width || result.Height != height)
                {
                    throw new RunFailedException($"{PathOf(t - j)} is {result.Width}x{result.Height}, not the " +
                                                 $"run's {width}x{height} (written with another --size?)");
                }
                warped.Add(backward.Warp(result));
                weights.Add(FlowReliability.Weights(backward, forward));
            }
            var (target, merged) = FlowReliability.Merge(warped, FlowReliability.LongTerm(weights));
            _flowSeconds += flowClock.Elapsed.TotalSeconds;
            return (warped[0], new TemporalTarget(target, merged));
        }
    }
}
