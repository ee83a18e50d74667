using IlgpuStyle.Host;
using IlgpuStyle.Network.Images;
using IlgpuStyle.Tests.Support;
using static IlgpuStyle.Tests.Host.HostFiles;

namespace IlgpuStyle.Tests.Host;

/// <summary>
/// <c>ilgpu-style video</c> (issue 26) on the CPU: the flow OpenCV estimates on a clip of known motion is within 1 px
/// of it; the temporal loss makes consecutive stylised frames at least 3x steadier (mean warping error over the
/// reliable region) than stylising each frame alone; a rerun resumes and gives the same frames; shards and --join
/// give the same video; bad input is one line naming the video or the frame, and nothing written is lost.
/// </summary>
public sealed class VideoTests
{
    private const int Width = 64, Height = 48, Dx = 2, Dy = 1;
    private string _folder = null!;

    [OneTimeSetUp]
    public void RequireOpenCv()
    {
        try
        {
            OpenCv.Version();
        }
        catch (UsageException e)
        {
            Assert.Ignore(e.Message);
        }
    }

    [SetUp]
    public void CreateFolder() => _folder = NewFolder("video");

    /// <summary>The main job's options for every frame: the tiny network at the clip's own size, so the motion
    /// stays whole pixels.</summary>
    private static string[] Shared(int iterations = 30) =>
        ["--style", StylePng, "--weights", TinyWeights(), "--device", "cpu", "--size", $"{Width}",
         "--iterations", $"{iterations}"];

    /// <summary><paramref name="count"/> frames of the synthetic scene panned by (Dx, Dy) a frame, as a folder.
    /// </summary>
    private string SyntheticClip(int count, string name = "clip")
    {
        var scene = VideoClips.Scene(160, 100);
        return VideoClips.FramesFolder(Path.Combine(_folder, name),
            Enumerable.Range(0, count).Select(t => VideoClips.Frame(scene, Width, Height, 10, 8, Dx, Dy, t)));
    }

    private static CliResult Video(params string[] args) => Run(["video", .. args]);

    private static List<RgbImage> Frames(string folder, int count) =>
        Enumerable.Range(1, count).Select(t => Decode(Path.Combine(folder, VideoRun.FrameName(t)))).ToList();

    private static void AssertOneLine(CliResult run, string contains)
    {
        var lines = run.Error.TrimEnd().Split('\n');
        Assert.That(lines, Has.Length.EqualTo(1), run.ToString());
        Assert.That(lines[0], Does.StartWith("error: ").And.Contain(contains), run.ToString());
        Assert.That(run.Error, Does.Not.Contain("Exception").And.Not.Contain("   at "), "no stack trace");
    }

    [Test]
    public void TheFlowOfTheSyntheticPanIsWithinAPixelOfTheMotion()
    {
        var scene = VideoClips.Scene(160, 100);
        var a = VideoClips.Frame(scene, Width, Height, 10, 8, Dx, Dy, 0);
        var b = VideoClips.Frame(scene, Width, Height, 10, 8, Dx, Dy, 1);
        AssertFlow(new FarnebackFlow().Estimate(b, a), "synthetic scene");
    }

    [Test]
    public void TheFlowOfAPanAcrossAPhotographIsWithinAPixelOfTheMotion()
    {
        var photo = Decode(SharedFolder.Require("images/tubingen.jpg"));
        var a = VideoClips.Frame(photo, 160, 120, 300, 380, 3, 0, 0);
        var b = VideoClips.Frame(photo, 160, 120, 300, 380, 3, 0, 1);
        var (mean, within) = VideoClips.FlowError(new FarnebackFlow().Estimate(b, a), 3, 0, 8);
        Assert.That(mean, Is.LessThan(0.25), $"mean end-point error {mean:0.###} px");
        Assert.That(within, Is.GreaterThan(0.99), $"{within:P1} within 1 px");
        TestContext.Out.WriteLine($"tubingen pan of 3 px: mean end-point error {mean:0.###} px, {within:P2} " +
                                  "within 1 px");
    }

    private static void AssertFlow(FlowField flow, string what)
    {
        // The backward flow of frame 1 to frame 0 is (Dx, Dy); the border, where new content enters, is left out.
        var (mean, within) = VideoClips.FlowError(flow, Dx, Dy, 6);
        TestContext.Out.WriteLine($"{what}: mean end-point error {mean:0.###} px, {within:P2} within 1 px");
        Assert.That(mean, Is.LessThan(0.25), $"{what}: mean end-point error {mean:0.###} px");
        Assert.That(within, Is.GreaterThan(0.99), $"{what}: {within:P1} within 1 px");
    }

    [Test]
    public void TemporalConsistencyMakesTheSyntheticPanAtLeastThreeTimesSteadier()
    {
        const int count = 6;
        string clip = SyntheticClip(count);
        var (video, alone) = Steadiness(clip, count, Shared(), []);
        Assert.That(alone / video, Is.GreaterThanOrEqualTo(3),
            $"warping error: {video:0.##} with the temporal loss, {alone:0.##} frame by frame");
    }

    [Test]
    public void OnAPanTheLongTermLossGivesTheFurtherFramesNothing()
    {
        // Every point of frame t that frame t - 2 saw, frame t - 1 saw too (the window only moves on), so Ruder et
        // al.'s long-term weights leave frames t - 2 and t - 3 no pixel, and the frames are the short-term loss's.
        const int count = 5;
        string clip = SyntheticClip(count);
        string shortTerm = Path.Combine(_folder, "short"), longTerm = Path.Combine(_folder, "long");
        Assert.That(Video(["--input", clip, "--frames-dir", shortTerm, .. Shared(10)]).Exit, Is.Zero);
        var run = Video(["--input", clip, "--frames-dir", longTerm, "--long-term", "3", .. Shared(10)]);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        for (int t = 1; t <= count; t++)
        {
            Assert.That(File.ReadAllBytes(Path.Combine(longTerm, VideoRun.FrameName(t))),
                Is.EqualTo(File.ReadAllBytes(Path.Combine(shortTerm, VideoRun.FrameName(t)))), $"frame {t}");
        }
    }

    [Test]
    public void TheTemporalLossHoldsFramesSteadierThanTheWarpedStartAlone()
    {
        // --temporal-weight 0 keeps the warped start but not the loss: the optimizer then drifts from it.
        const int count = 5;
        string clip = SyntheticClip(count);
        string held = Path.Combine(_folder, "held"), free = Path.Combine(_folder, "free");
        Assert.That(Video(["--input", clip, "--frames-dir", held, .. Shared()]).Exit, Is.Zero);
        Assert.That(Video(["--input", clip, "--frames-dir", free, "--temporal-weight", "0", .. Shared()]).Exit,
            Is.Zero);
        double withLoss = VideoClips.WarpingError(Frames(held, count), Dx, Dy);
        double without = VideoClips.WarpingError(Frames(free, count), Dx, Dy);
        TestContext.Out.WriteLine($"warping error {withLoss:0.###} with the loss, {without:0.###} without");
        Assert.That(without, Is.GreaterThan(1.5 * withLoss),
            $"{withLoss:0.###} with the loss, {without:0.###} without");
    }

    [Test]
    public void TemporalConsistencyMakesAPanAcrossAPhotographAtLeastThreeTimesSteadier()
    {
        var photo = Decode(SharedFolder.Require("images/tubingen.jpg"));
        var painting = SharedFolder.Require("images/starry_night.jpg");
        const int count = 6;
        string clip = VideoClips.FramesFolder(Path.Combine(_folder, "tubingen"),
            Enumerable.Range(0, count).Select(t => VideoClips.Frame(photo, 96, 72, 300, 380, 3, 0, t)));
        string[] shared = ["--style", painting, "--weights", ConvertedFixture("vgg19_div16.zip.pth"),
            "--device", "cpu", "--size", "96", "--iterations", "30"];
        var (video, alone) = Steadiness(clip, count, shared, [], 3, 0);
        Assert.That(alone / video, Is.GreaterThanOrEqualTo(3),
            $"warping error: {video:0.##} with the temporal loss, {alone:0.##} frame by frame");
    }

    /// <summary>The warping errors of the clip stylised as a video (with <paramref name="videoOnly"/> options too)
    /// and frame by frame (a batch: each frame alone, with the same options).</summary>
    private (double Video, double Alone) Steadiness(string clip, int count, string[] shared, string[] videoOnly,
        int dx = Dx, int dy = Dy)
    {
        string frames = Path.Combine(_folder, "video-frames"), alone = Path.Combine(_folder, "alone");
        var video = Video(["--input", clip, "--frames-dir", frames, .. videoOnly, .. shared]);
        Assert.That(video.Exit, Is.Zero, video.ToString());
        var batch = Run(["batch", "--inputs", Path.Combine(clip, "*.png"), "--output-dir", alone, .. shared]);
        Assert.That(batch.Exit, Is.Zero, batch.ToString());
        double withLoss = VideoClips.WarpingError(Frames(frames, count), dx, dy);
        double frameByFrame = VideoClips.WarpingError(Enumerable.Range(1, count)
            .Select(t => Decode(Path.Combine(alone, $"frame_{t:D4}.png"))).ToList(), dx, dy);
        TestContext.Out.WriteLine($"warping error: {withLoss:0.###} with the temporal loss, {frameByFrame:0.###} " +
                                  $"frame by frame ({frameByFrame / withLoss:0.#}x)");
        TestContext.Out.WriteLine(video.Output);
        return (withLoss, frameByFrame);
    }

    [Test]
    public void ARerunSkipsFinishedFramesAndRendersTheRestAsBefore()
    {
        string clip = SyntheticClip(5);
        string frames = Path.Combine(_folder, "frames"), movie = Path.Combine(_folder, "out.avi");
        var first = Video(["--input", clip, "--frames-dir", frames, "--output", movie, .. Shared(8)]);
        Assert.That(first.Exit, Is.Zero, first.ToString());
        var whole = Enumerable.Range(1, 5).Select(t => File.ReadAllBytes(Path.Combine(frames, VideoRun.FrameName(t))))
            .ToList();
        Assert.That(new VideoFrames(movie).Scan(), Is.EqualTo(new VideoInput(5, Width, Height, 25, null)));

        // As after a kill during frame 4: frames 4 and 5 and the video are missing.
        foreach (int t in new[] { 4, 5 }) File.Delete(Path.Combine(frames, VideoRun.FrameName(t)));
        File.Delete(movie);
        var kept = Enumerable.Range(1, 3).Select(t => File.GetLastWriteTimeUtc(Path.Combine(frames,
            VideoRun.FrameName(t)))).ToList();
        var again = Video(["--input", clip, "--frames-dir", frames, "--output", movie, .. Shared(8)]);
        Assert.That(again.Exit, Is.Zero, again.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(again.Output, Does.Contain("2 rendered, 3 skipped"), again.ToString());
            for (int t = 1; t <= 5; t++)
            {
                string path = Path.Combine(frames, VideoRun.FrameName(t));
                Assert.That(File.ReadAllBytes(path), Is.EqualTo(whole[t - 1]), $"frame {t}");
                if (t <= 3) Assert.That(File.GetLastWriteTimeUtc(path), Is.EqualTo(kept[t - 1]), $"frame {t} kept");
            }
            Assert.That(File.Exists(movie), "the video assembled again");
        });
    }

    [Test]
    public void ShardsRenderContiguousChunksAndJoinAssemblesThem()
    {
        string clip = SyntheticClip(6);
        string whole = Path.Combine(_folder, "whole"), sharded = Path.Combine(_folder, "sharded");
        string movie = Path.Combine(_folder, "sharded.avi");
        Assert.That(Video(["--input", clip, "--frames-dir", whole, .. Shared(6)]).Exit, Is.Zero);
        string[] common = ["--input", clip, "--frames-dir", sharded, "--output", movie, "--warmup-frames", "2",
            .. Shared(6)];
        var one = Video([.. common, "--shard", "1/2"]);
        Assert.That(one.Exit, Is.Zero, one.ToString());
        Assert.That(one.Output, Does.Contain("frames 4 to 6 after warm-up frames 2 to 3"), one.ToString());

        var early = Video([.. common, "--join"]);
        Assert.That(early.Exit, Is.EqualTo(ExitCodes.Failed), early.ToString());
        AssertOneLine(early, "3 of 6 frames are not in");
        Assert.That(File.Exists(movie), Is.False, "nothing joined while a shard is missing");

        var zero = Video([.. common, "--shard", "0/2"]);
        Assert.That(zero.Exit, Is.Zero, zero.ToString());
        var join = Video([.. common, "--join"]);
        Assert.That(join.Exit, Is.Zero, join.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(new VideoFrames(movie).Scan().Count, Is.EqualTo(6), "the joined video");
            for (int t = 1; t <= 3; t++)
            {
                Assert.That(File.ReadAllBytes(Path.Combine(sharded, VideoRun.FrameName(t))),
                    Is.EqualTo(File.ReadAllBytes(Path.Combine(whole, VideoRun.FrameName(t)))),
                    $"frame {t}: shard 0 is the start of the whole run");
            }
            Assert.That(Directory.GetFiles(Path.Combine(sharded, ".warmup-1-of-2")).Select(Path.GetFileName),
                Is.EquivalentTo(new[] { VideoRun.FrameName(2), VideoRun.FrameName(3) }), "warm-up kept apart");
            Assert.That(Directory.GetFiles(sharded).Select(Path.GetFileName),
                Is.EquivalentTo(Enumerable.Range(1, 6).Select(VideoRun.FrameName)), "each frame once");
        });
    }

    /// <summary>--html-report names the video's index: each frame's page beside it, linked from the index; shards
    /// write an index each (index-shard-I-of-N.html), never one over another's, and leave warm-up frames out.
    /// </summary>
    [Test]
    public void HtmlReportWritesEachFramesPageAndOneIndexPerShard()
    {
        string clip = SyntheticClip(4);
        string frames = Path.Combine(_folder, "frames"), index = Path.Combine(_folder, "index.html");
        string[] common = ["--input", clip, "--frames-dir", frames, "--warmup-frames", "1", "--html-report", index,
            .. Shared(3)];
        var zero = Video([.. common, "--shard", "0/2"]);
        var one = Video([.. common, "--shard", "1/2"]);
        Assert.That(zero.Exit, Is.Zero, zero.ToString());
        Assert.That(one.Exit, Is.Zero, one.ToString());
        string first = Path.Combine(_folder, "index-shard-0-of-2.html");
        string second = Path.Combine(_folder, "index-shard-1-of-2.html");
        Assert.Multiple(() =>
        {
            Assert.That(File.Exists(index), Is.False, "no shard writes the whole video's name");
            Assert.That(zero.Output, Does.Contain($"Wrote the index {first} (2 frames)."), zero.ToString());
            Assert.That(one.Output, Does.Contain($"Wrote the index {second} (2 frames)."), one.ToString());
            Assert.That(File.ReadAllText(first), Does.Contain("<a href=\"frames/frame_00002.html\">report</a>")
                .And.Not.Contain("frame_00003"));
            Assert.That(File.ReadAllText(second), Does.Contain("<a href=\"frames/frame_00004.png\">frame_00004.png")
                .And.Not.Contain("frame_00002"), "the warm-up frame is not the shard's");
            for (int t = 1; t <= 4; t++)
            {
                Assert.That(File.ReadAllText(Path.Combine(frames, $"frame_0000{t}.html")),
                    Does.Contain("window.RUN = {"), $"frame {t}'s page");
            }
            Assert.That(Directory.GetFiles(Path.Combine(frames, ".warmup-1-of-2"), "*.html"), Is.Empty,
                "warm-up frames have no page");
        });
    }

    [Test]
    public void ATruncatedVideoRendersTheFramesItHasAndSaysWhere()
    {
        var scene = VideoClips.Scene(160, 100);
        string movie = Path.Combine(_folder, "clip.avi"), cut = Path.Combine(_folder, "cut.avi");
        VideoFrames.Write(movie, Enumerable.Range(0, 6).Select(t => VideoClips.Frame(scene, Width, Height, 10, 8,
            Dx, Dy, t)), 12, Width, Height);
        var bytes = File.ReadAllBytes(movie);
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        string frames = Path.Combine(_folder, "frames");
        var run = Video(["--input", cut, "--frames-dir", frames, .. Shared(3)]);
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Failed), run.ToString());
        AssertOneLine(run, $"{cut}: the file is truncated or damaged: frame ");
        int usable = new VideoFrames(cut).Scan().Count;
        Assert.That(usable, Is.InRange(1, 5));
        Assert.That(Directory.GetFiles(frames), Has.Length.EqualTo(usable), "the frames that decode, rendered");

        var times = Directory.GetFiles(frames).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        var again = Video(["--input", cut, "--frames-dir", frames, .. Shared(3)]);
        Assert.That(again.Exit, Is.EqualTo(ExitCodes.Failed), again.ToString());
        foreach (var (file, time) in times) Assert.That(File.GetLastWriteTimeUtc(file), Is.EqualTo(time), file);
    }

    [Test]
    public void AFrameWhoseSizeChangesOrThatDoesNotDecodeEndsTheUsableFrames()
    {
        string clip = SyntheticClip(4);
        var small = VideoClips.Frame(VideoClips.Scene(160, 100), Width - 4, Height, 0, 0, 0, 0, 0);
        ImageFiles.SaveAtomically(small, Path.Combine(clip, "frame_0003.png"));
        string frames = Path.Combine(_folder, "frames");
        var run = Video(["--input", clip, "--frames-dir", frames, .. Shared(3)]);
        Assert.That(run.Exit, Is.EqualTo(ExitCodes.Failed), run.ToString());
        AssertOneLine(run, "frame 3 (frame_0003.png) is 60x48 where the frames before are 64x48");
        Assert.That(Directory.GetFiles(frames).Select(Path.GetFileName),
            Is.EquivalentTo(new[] { VideoRun.FrameName(1), VideoRun.FrameName(2) }));

        File.WriteAllBytes(Path.Combine(clip, "frame_0003.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5, 6, 7]);
        var broken = Video(["--input", clip, "--frames-dir", frames, .. Shared(3)]);
        Assert.That(broken.Exit, Is.EqualTo(ExitCodes.Failed), broken.ToString());
        AssertOneLine(broken, "frame 3: ");
        Assert.That(broken.Error, Does.Contain("frame_0003.png"));
        Assert.That(broken.Output, Does.Contain("0 rendered, 2 skipped"), broken.ToString());
    }

    [Test]
    public void BadInputAndBadValuesAreOneLineEach()
    {
        string clip = SyntheticClip(2);
        string garbage = Path.Combine(_folder, "noise.avi");
        File.WriteAllBytes(garbage, Enumerable.Range(0, 5000).Select(i => (byte)(i * 37 % 251)).ToArray());
        string frames = Path.Combine(_folder, "frames");
        var cases = new (string[] Args, int Exit, string Says)[]
        {
            (["--input", Path.Combine(_folder, "missing.avi"), "--frames-dir", frames], 2, "does not exist"),
            (["--input", garbage, "--frames-dir", frames], 2, "could be used"),
            (["--input", clip, "--frames-dir", frames, "--shard", "2/2"], 2, "Shard index 2 is out of range"),
            (["--input", clip, "--frames-dir", frames, "--shard", "one"], 2, "is not INDEX/COUNT"),
            (["--input", clip, "--frames-dir", frames, "--long-term", "0"], 2, "--long-term"),
            (["--input", clip, "--frames-dir", frames, "--warmup-frames", "-1"], 2, "--warmup-frames"),
            (["--input", clip, "--frames-dir", frames, "--temporal-weight", "-1"], 2, "--temporal-weight"),
            (["--input", clip, "--frames-dir", frames, "--temporal-weight", "lots"], 2, "--temporal-weight"),
            (["--input", clip, "--frames-dir", frames, "--min-size", "32"], 2, "--min-size is not for a video"),
            (["--input", clip, "--frames-dir", frames, "--content", ContentPng], 2, "--content is not for a video"),
            (["--input", clip, "--frames-dir", frames, "--preview"], 2, "--preview is not for a video"),
            (["--input", clip], 2, "Give --output VIDEO"),
            (["--input", clip, "--output", Path.Combine(_folder, "out.mov")], 2, "must be an .avi or an .mp4"),
            (["--input", clip, "--frames-dir", frames, "--join"], 2, "--join needs --output"),
        };
        Assert.Multiple(() =>
        {
            foreach (var (args, exit, says) in cases)
            {
                var run = Video([.. args, .. Shared(2)]);
                Assert.That(run.Exit, Is.EqualTo(exit), run.ToString());
                AssertOneLine(run, says);
            }
            Assert.That(Directory.Exists(frames), Is.False, "nothing rendered for any of them");
        });
    }
}

/// <summary>
/// The figures of docs/PERFORMANCE.md's "Video" section: a 10-frame pan 4 px a frame across tubingen.jpg at 256 px,
/// 100 L-BFGS iterations a frame with the fixture weights, as a video and frame by frame (a batch). A measurement,
/// minutes long: run it alone on a quiet machine,
/// <c>dotnet test -c Release --filter FullyQualifiedName~VideoFigures</c>.
/// </summary>
[Explicit("A measurement of minutes for docs/PERFORMANCE.md: run it alone on a quiet machine.")]
public sealed class VideoFigures
{
    [Test]
    public void PanAcrossTubingen()
    {
        const int width = 256, height = 192, step = 4, count = 10;
        var photo = Decode(SharedFolder.Require("images/tubingen.jpg"));
        string folder = NewFolder("video-figures");
        var frames = Enumerable.Range(0, count).Select(t => VideoClips.Frame(photo, width, height, 300, 300, step, 0,
            t)).ToList();
        var (mean, within) = VideoClips.FlowError(new FarnebackFlow().Estimate(frames[1], frames[0]), step, 0, 8);
        TestContext.Out.WriteLine($"flow of frame 2 to frame 1: mean end-point error {mean:0.###} px, " +
                                  $"{within:P2} within 1 px of ({step}, 0)");
        string clip = VideoClips.FramesFolder(Path.Combine(folder, "clip"), frames);
        string[] shared = ["--style", SharedFolder.Require("images/starry_night.jpg"),
            "--weights", ConvertedFixture("vgg19_div16.zip.pth"), "--device", "cpu", "--size", $"{width}",
            "--iterations", "100"];
        string video = Path.Combine(folder, "video"), alone = Path.Combine(folder, "alone");
        var run = Run(["video", "--input", clip, "--frames-dir", video, .. shared]);
        Assert.That(run.Exit, Is.Zero, run.ToString());
        var batch = Run(["batch", "--inputs", Path.Combine(clip, "*.png"), "--output-dir", alone, .. shared]);
        Assert.That(batch.Exit, Is.Zero, batch.ToString());
        double withLoss = VideoClips.WarpingError(Enumerable.Range(1, count)
            .Select(t => Decode(Path.Combine(video, VideoRun.FrameName(t)))).ToList(), step, 0);
        double frameByFrame = VideoClips.WarpingError(Enumerable.Range(1, count)
            .Select(t => Decode(Path.Combine(alone, $"frame_{t:D4}.png"))).ToList(), step, 0);
        TestContext.Out.WriteLine($"warping error: {withLoss:0.###} as a video, {frameByFrame:0.###} frame by frame " +
                                  $"({frameByFrame / withLoss:0.#}x steadier)");
        TestContext.Out.WriteLine(run.Output);
        TestContext.Out.WriteLine(batch.Output);
    }

    /// <summary>What a seam looks like: a 12-frame pan at 128 px in one run, in two shards without warm-up and in two
    /// shards with 4 warm-up frames; the warping error of each frame pair, the seam's (frames 6 to 7) marked.</summary>
    [Test]
    public void SeamsOfTwoShards()
    {
        const int width = 128, height = 96, step = 4, count = 12;
        var photo = Decode(SharedFolder.Require("images/tubingen.jpg"));
        string folder = NewFolder("video-seams");
        string clip = VideoClips.FramesFolder(Path.Combine(folder, "clip"), Enumerable.Range(0, count)
            .Select(t => VideoClips.Frame(photo, width, height, 300, 300, step, 0, t)));
        string[] shared = ["--input", clip, "--style", SharedFolder.Require("images/starry_night.jpg"),
            "--weights", ConvertedFixture("vgg19_div16.zip.pth"), "--device", "cpu", "--size", $"{width}",
            "--iterations", "100"];
        var runs = new (string Name, string[][] Shards)[]
        {
            ("one run", [[]]),
            ("2 shards, no warm-up", [["--shard", "0/2"], ["--shard", "1/2", "--warmup-frames", "0"]]),
            ("2 shards, 4 warm-up frames", [["--shard", "0/2"], ["--shard", "1/2", "--warmup-frames", "4"]]),
        };
        foreach (var (name, shards) in runs)
        {
            string frames = Path.Combine(folder, name.Replace(' ', '-').Replace(",", ""));
            foreach (var args in shards)
            {
                var run = Run(["video", "--frames-dir", frames, .. shared, .. args]);
                Assert.That(run.Exit, Is.Zero, run.ToString());
            }
            var images = Enumerable.Range(1, count).Select(t => Decode(Path.Combine(frames, VideoRun.FrameName(t))))
                .ToList();
            var pairs = Enumerable.Range(1, count - 1).Select(t => VideoClips.WarpingError(images[(t - 1)..(t + 1)],
                step, 0)).ToList();
            TestContext.Out.WriteLine($"{name}: " + string.Join(" ", pairs.Select((e, k) =>
                k == 5 ? $"[{e:0.#}]" : $"{e:0.#}")));
        }
    }
}
