using ILGPU.Runtime;
using IlgpuStyle.Kernels;
using IlgpuStyle.Kernels.Tuning;
using IlgpuStyle.Tests.Support;
using static IlgpuStyle.Kernels.KernelVariant;

namespace IlgpuStyle.Tests.Kernels;

/// <summary>
/// Per-layer tuning (<see cref="KernelTuner"/>) on a CPU accelerator whose groups hold 256 threads, with the GPU's
/// kernels as candidates beside the host code: the outputs are real and checked for real, the timings are
/// injected (no test measures time).
/// </summary>
public sealed class TuningTests : AcceleratorTest
{
    private static readonly Conv2dShape Shape = Conv2dShape.Vgg(8, 6, 7, 16);
    private static readonly TuningKey Forward = new(TunedOperation.ConvForward, Shape);
    private static readonly TuningKey InputGradient = new(TunedOperation.ConvInputGradient, Shape);
    private static readonly DeviceIdentity Device = new("CPU wide", ".NET 10", "1.0 (abc)", "fp32, tiled on the CPU");

    private string _folder = "";

    protected override OwnAccelerator CreateOwnAccelerator() => OwnAccelerator.WideCpu(threadsPerWarp: 16,
        warps: 16, a => new KernelSet(a, new KernelChoice(AcceleratorDescription.Of(a), tiledOnCpu: true)));

    [SetUp]
    public void MakeFolder() => Directory.CreateDirectory(
        _folder = Path.Combine(Path.GetTempPath(), $"ilgpu-tuning-{Guid.NewGuid():N}"));

    [TearDown]
    public void RemoveFolder() => Directory.Delete(_folder, recursive: true);

    private string CachePath => Path.Combine(_folder, "sub", "tuning.json");

    /// <summary>Times from a table; counts the calls (a choice read from the cache times nothing).</summary>
    private sealed class FakeTimer(IReadOnlyDictionary<KernelVariant, double> ms) : ITuningTimer
    {
        public List<(TuningKey, KernelVariant)> Calls { get; } = [];

        public double Milliseconds(TuningKey key, KernelVariant variant, Action launch)
        {
            launch();
            Calls.Add((key, variant));
            return ms[variant];
        }
    }

    /// <summary>A trial whose <paramref name="wrong"/> variant writes one element 1% off (plus 0.01): a kernel
    /// with a bug that shows in one output.</summary>
    private sealed class WrongVariantTrial(ConvTrial inner, KernelVariant wrong, Accelerator accelerator)
        : ITuningTrial
    {
        public TuningKey Key => inner.Key;
        public IReadOnlyList<KernelVariant> Candidates => inner.Candidates;

        public void Run(KernelVariant variant)
        {
            inner.Run(variant);
            if (variant != wrong) return;
            accelerator.Synchronize();
            float[] data = inner.Output.GetAsArray1D();
            int i = data.Length / 3;
            data[i] += 0.01f * (1 + Math.Abs(data[i]));
            inner.Output.CopyFromCPU(data);
        }

        public TrialCheck Check(KernelVariant variant) => inner.Check(variant);

        public void Dispose() => inner.Dispose();
    }

    private (KernelChoice Choice, IReadOnlyList<TuningDecision> Decisions) Tune(ITuningTimer timer,
        TuningMode mode = TuningMode.Auto, KernelVariant? wrong = null, List<string>? log = null,
        TuningKey[]? keys = null) =>
        KernelTuner.Tune(Kernels.Choice, keys ?? [Forward, InputGradient], mode,
            key => wrong is { } w
                ? new WrongVariantTrial(new ConvTrial(Kernels, key), w, Accelerator)
                : new ConvTrial(Kernels, key),
            timer, new TuningCache(CachePath), Device, line => log?.Add(line));

    [Test]
    public void TheCandidatesAreTheReferenceAndTheKernelsTheAcceleratorRuns()
    {
        Assert.That(Kernels.Choice.Candidates(TunedOperation.ConvForward, Shape),
            Is.EqualTo(new[] { Cpu, PerElement, Tiled }));
        var h100 = new KernelChoice(new AcceleratorDescription(AcceleratorType.Cuda, 1024, true, "H100"), tf32: true);
        Assert.That(h100.Candidates(TunedOperation.ConvInputGradient, Conv2dShape.Vgg(3, 64, 64, 64)),
            Is.EqualTo(new[] { PerElement, Tiled, Tf32 }), "the rule's tiled-pays limit is for the tuner to measure");
        var strided = new Conv2dShape(8, 9, 9, 8, 3, 3, 1, 2);
        Assert.That(h100.Candidates(TunedOperation.ConvInputGradient, strided), Is.EqualTo(new[] { PerElement }),
            "a stride has no transposed form");
        Assert.That(new KernelChoice(new AcceleratorDescription(AcceleratorType.Cuda, 1024, true, "H100"))
            .Candidates(TunedOperation.ConvForward, Shape), Is.EqualTo(new[] { PerElement, Tiled }), "TF32 asked only");
        var projectCpu = new KernelChoice(new AcceleratorDescription(AcceleratorType.CPU, 2, false, "CPU"));
        Assert.That(projectCpu.Candidates(TunedOperation.ConvForward, Shape), Is.EqualTo(new[] { Cpu }));
        Assert.That(KernelTuner.IsGpu(Accelerator), Is.False);
        Assert.That(KernelTuner.Tunes(TuningMode.Auto, gpu: false), Is.False, "auto leaves the CPU alone");
        Assert.That(KernelTuner.Tunes(TuningMode.Auto, gpu: true), Is.True);
        Assert.That(KernelTuner.Tunes(TuningMode.Always, gpu: false), Is.True);
        Assert.That(KernelTuner.Tunes(TuningMode.Off, gpu: true), Is.False);
    }

    [TestCase(Tiled)]
    [TestCase(PerElement)]
    [TestCase(Cpu)]
    public void FakeTimingsPickTheFastestCorrectVariant(KernelVariant fastest)
    {
        var ms = new Dictionary<KernelVariant, double> { [Cpu] = 3, [PerElement] = 2, [Tiled] = 4 };
        ms[fastest] = 1;
        var (choice, decisions) = Tune(new FakeTimer(ms));
        Assert.That(decisions.Select(d => d.Key), Is.EquivalentTo(new[] { Forward, InputGradient }));
        foreach (var decision in decisions)
        {
            Assert.That(decision.Measurements.Select(m => m.Variant), Is.EqualTo(new[] { Cpu, PerElement, Tiled }));
            Assert.That(decision.Measurements.All(m => m.Check.Passed), Is.True,
                $"every real kernel is within its bound: {string.Join(", ", decision.Measurements)}");
            Assert.That(decision.Variant, Is.EqualTo(fastest));
        }
        Assert.That(choice.ConvForward(Shape), Is.EqualTo(fastest));
        Assert.That(choice.ConvInputGradient(Shape), Is.EqualTo(fastest));
        var other = Conv2dShape.Vgg(8, 6, 8, 16);
        Assert.That(choice.Conv(other), Is.EqualTo(Kernels.Choice.Conv(other)), "another shape follows the rule");
        Assert.That(choice.Conv(other), Is.EqualTo(new ConvVariants(Tiled, PerElement)));
    }

    [TestCase(Tiled)]
    [TestCase(PerElement)]
    public void AWrongVariantIsNeverChosenHoweverFast(KernelVariant wrong)
    {
        var ms = new Dictionary<KernelVariant, double> { [Cpu] = 3, [PerElement] = 2, [Tiled] = 2.5 };
        ms[wrong] = 0.1;
        var (choice, decisions) = Tune(new FakeTimer(ms), wrong: wrong);
        var right = wrong == Tiled ? PerElement : Tiled;
        foreach (var decision in decisions)
        {
            var bad = decision.Measurements.Single(m => m.Variant == wrong);
            Assert.That(bad.Check.Passed, Is.False);
            Assert.That(bad.Check.WorstRatio, Is.GreaterThan(1));
            Assert.That(decision.Variant, Is.EqualTo(right));
        }
        Assert.That(choice.Conv(Shape), Is.EqualTo(new ConvVariants(right, right)));
    }

    [Test]
    public void TheCacheRoundTripsAndAutoTimesNothingTheSecondTime()
    {
        var ms = new Dictionary<KernelVariant, double> { [Cpu] = 3, [PerElement] = 1, [Tiled] = 2 };
        Tune(new FakeTimer(ms));
        Assert.That(File.Exists(CachePath), Is.True, "written into a folder it made");
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(CachePath)!), Has.Length.EqualTo(1), "no temporary left");
        Assert.That(new TuningCache(CachePath).Load(Device, _ => { }),
            Is.EquivalentTo(new Dictionary<TuningKey, KernelVariant> { [Forward] = PerElement,
                [InputGradient] = PerElement }));

        var second = new FakeTimer(new Dictionary<KernelVariant, double> { [Cpu] = 3, [PerElement] = 9, [Tiled] = 1 });
        var (choice, decisions) = Tune(second);
        Assert.That(second.Calls, Is.Empty);
        Assert.That(decisions.All(d => d.FromCache), Is.True);
        Assert.That(choice.Conv(Shape), Is.EqualTo(new ConvVariants(PerElement, PerElement)));

        var (again, _) = Tune(second, TuningMode.Always);
        Assert.That(second.Calls, Has.Count.EqualTo(6), "always times every candidate again");
        Assert.That(again.Conv(Shape), Is.EqualTo(new ConvVariants(Tiled, Tiled)));
        Assert.That(new TuningCache(CachePath).Load(Device, _ => { })[Forward], Is.EqualTo(Tiled), "and rewrites");

        var (off, offDecisions) = Tune(second, TuningMode.Off);
        Assert.That(offDecisions, Is.Empty);
        Assert.That(off.TunedTable.Choices, Is.Empty);
    }

    [Test]
    public void AStaleCacheEntryIsIgnored()
    {
        var cache = new TuningCache(CachePath);
        var all = new Dictionary<TuningKey, KernelVariant> { [Forward] = Cpu, [InputGradient] = Cpu };
        cache.Save(Device with { Driver = "another driver" }, all, _ => { });
        cache.Save(Device with { Version = "an older build" }, all, _ => { });
        cache.Save(Device with { Device = "CPU another" }, all, _ => { });
        cache.Save(Device with { Precision = "tf32" }, all, _ => { });
        var otherShape = new TuningKey(TunedOperation.ConvForward, Conv2dShape.Vgg(8, 6, 8, 16));
        cache.Save(Device, new Dictionary<TuningKey, KernelVariant> { [otherShape] = Cpu }, _ => { });
        Assert.That(cache.Load(Device, _ => { }).Keys, Is.EqualTo(new[] { otherShape }));

        var timer = new FakeTimer(new Dictionary<KernelVariant, double> { [Cpu] = 3, [PerElement] = 2, [Tiled] = 1 });
        var (choice, decisions) = Tune(timer);
        Assert.That(decisions.Any(d => d.FromCache), Is.False);
        Assert.That(choice.Conv(Shape), Is.EqualTo(new ConvVariants(Tiled, Tiled)));
        Assert.That(File.ReadAllText(CachePath), Does.Contain("CPU another").And.Contain("tf32"),
            "other devices' and settings' entries are kept");
        Assert.That(File.ReadAllText(CachePath), Does.Not.Contain("another driver").And.Not.Contain("older build"),
            "this device's stale ones are dropped");
    }

    [Test]
    public void AnEntryThatIsNoLongerACandidateIsIgnored()
    {
        // TF32 is not asked: a cached TF32 choice (a hand-edited file, say) must not run.
        new TuningCache(CachePath).Save(Device, new Dictionary<TuningKey, KernelVariant> { [Forward] = Tf32 },
            _ => { });
        var timer = new FakeTimer(new Dictionary<KernelVariant, double> { [Cpu] = 1, [PerElement] = 2, [Tiled] = 3 });
        var (choice, _) = Tune(timer, keys: [Forward]);
        Assert.That(choice.ConvForward(Shape), Is.EqualTo(Cpu));
        Assert.That(timer.Calls, Has.Count.EqualTo(3));
    }

    [TestCase("{ not json", "cannot be read")]
    [TestCase("", "cannot be read")]
    [TestCase("{\"format\": 7, \"entries\": []}", "not in this program's format")]
    [TestCase("[1, 2]", "cannot be read")]
    [TestCase("{\"format\": 1, \"entries\": [{\"shape\": \"x\"}, 3, null, {\"device\": 1, \"shape\": " +
              "[8,6,7,16,3,3,1,1], \"variant\": \"Tiled\"}, {\"device\": \"CPU wide\", \"driver\": \".NET 10\", " +
              "\"version\": \"1.0 (abc)\", \"precision\": \"fp32, tiled on the CPU\", \"operation\": \"ConvForward\"" +
              ", \"shape\": [8,6,7,16,3,3,1,1], \"variant\": \"Warp9\"}]}", null)]
    public void ACorruptCacheFileIsIgnoredWithoutACrash(string text, string? note)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(CachePath)!);
        File.WriteAllText(CachePath, text);
        var log = new List<string>();
        Assert.That(new TuningCache(CachePath).Load(Device, log.Add), Is.Empty);
        if (note is null) Assert.That(log, Is.Empty, "malformed entries are skipped one by one, silently");
        else Assert.That(log.Single(), Does.Contain(CachePath).And.Contain(note));

        var timer = new FakeTimer(new Dictionary<KernelVariant, double> { [Cpu] = 3, [PerElement] = 1, [Tiled] = 2 });
        var (choice, _) = Tune(timer, log: log);
        Assert.That(choice.Conv(Shape), Is.EqualTo(new ConvVariants(PerElement, PerElement)));
        Assert.That(new TuningCache(CachePath).Load(Device, _ => { }), Has.Count.EqualTo(2), "rewritten whole");
    }

    [Test]
    public void ACacheThatCannotBeWrittenIsANoteAndTheChoiceHolds()
    {
        File.WriteAllText(Path.Combine(_folder, "sub"), "a file where the folder should be");
        var log = new List<string>();
        var timer = new FakeTimer(new Dictionary<KernelVariant, double> { [Cpu] = 3, [PerElement] = 1, [Tiled] = 2 });
        var (choice, _) = Tune(timer, log: log);
        Assert.That(choice.ConvForward(Shape), Is.EqualTo(PerElement));
        Assert.That(log.Single(), Does.Contain("could not be written").And.Contain("this run only"));
    }
}
