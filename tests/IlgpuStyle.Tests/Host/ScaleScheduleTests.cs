using IlgpuStyle.Host;

namespace IlgpuStyle.Tests.Host;

/// <summary>The scales of a coarse-to-fine run: the geometric series of <c>--min-size</c> and the
/// explicit <c>--schedule</c>, with every error a user can make in them.</summary>
public sealed class ScaleScheduleTests
{
    private static int[] Sizes(int size, int minSize, double ratio) =>
        ScaleSchedule.Geometric(size, minSize, ratio, iterations: 10, initialIterations: 10)
            .Select(s => s.Size).ToArray();

    [TestCase(512, 128, 1.41421356, new[] { 128, 181, 256, 362, 512 })] // the example
    [TestCase(512, 128, 2.0, new[] { 128, 256, 512 })]                                  // exact powers keep the minimum
    [TestCase(1000, 100, 2.0, new[] { 125, 250, 500, 1000 })]                           // 62.5 is below the minimum
    [TestCase(700, 300, 1.5, new[] { 311, 467, 700 })]                                  // 466.67 and 311.1 rounded
    [TestCase(100, 90, 1.05, new[] { 91, 95, 100 })]                                    // 90.70 rounds to 91 >= 90
    [TestCase(10, 9, 1.01, new[] { 9, 10 })]                                            // sizes repeat: kept once
    [TestCase(512, 512, 1.41421356, new[] { 512 })]                     // the minimum is the size
    [TestCase(512, 363, 1.41421356, new[] { 512 })]                     // 362 is below 363
    [TestCase(512, 362, 1.41421356, new[] { 362, 512 })]
    public void TheGeometricSeriesRunsFromTheMinimumToTheSize(int size, int minSize, double ratio, int[] expected) =>
        Assert.That(Sizes(size, minSize, ratio), Is.EqualTo(expected));

    [Test]
    public void TheFirstScaleGetsTheInitialIterationsAndTheOthersTheIterations()
    {
        var scales = ScaleSchedule.Geometric(512, 128, 2.0, iterations: 500, initialIterations: 1000);
        Assert.That(scales, Is.EqualTo(new[] { new Scale(128, 1000), new Scale(256, 500), new Scale(512, 500) }));
    }

    [TestCase("512", "0", "2", "--min-size takes a whole number, at least 1; '0' is not one.")]
    [TestCase("512", "-4", "2", "--min-size takes a whole number, at least 1; '-4' is not one.")]
    [TestCase("256", "512", "2", "--min-size 512 is larger than --size 256")]
    [TestCase("512", "128", "1", "--scale-ratio takes a number greater than 1 (each scale this much smaller")]
    [TestCase("512", "128", "0.5", "--scale-ratio takes a number greater than 1")]
    [TestCase("512", "128", "-2", "--scale-ratio takes a number greater than 1")]
    [TestCase("512", "128", "NaN", "--scale-ratio takes a number greater than 1")]
    [TestCase("512", "128", "Infinity", "--scale-ratio takes a number greater than 1")]
    [TestCase("512", "16", "1.000001", "--scale-ratio 1.000001 is so close to 1")]
    public void BadGeometricSettingsAreRefusedNamingTheOption(string size, string minSize, string ratio,
        string message)
    {
        string error = OptionParsing.Refused("--size", size, "--min-size", minSize, "--scale-ratio", ratio);
        Assert.That(error, Does.StartWith(message));
        Assert.That(error, Does.Not.Contain('\n'));
    }

    [Test]
    public void NegativeInitialIterationsAreRefused() =>
        Assert.That(OptionParsing.Refused("--min-size", "128", "--initial-iterations", "-1"),
            Is.EqualTo("--initial-iterations takes a whole number, at least 0; '-1' is not one."));

    [TestCase("256:500,512:300,1024:100", new[] { 256, 500, 512, 300, 1024, 100 })]
    [TestCase(" 256 : 500 , 512:300 ,", new[] { 256, 500, 512, 300 })] // spaces and a trailing comma
    [TestCase("64:0,128:7", new[] { 64, 0, 128, 7 })]                     // a scale may only resample and evaluate
    [TestCase("300:20", new[] { 300, 20 })]                               // one scale
    public void AScheduleNamesEveryScaleAndItsIterations(string text, int[] flat)
    {
        var expected = flat.Chunk(2).Select(p => new Scale(p[0], p[1]));
        Assert.That(ScaleSchedule.Parse(text), Is.EqualTo(expected));
    }

    [TestCase("", "--schedule names no scale; write SIZE:ITERATIONS pairs, e.g. --schedule 256:500,512:300.")]
    [TestCase(" , ,", "--schedule names no scale;")]
    [TestCase("256", "--schedule entry '256' is not SIZE:ITERATIONS; write e.g. --schedule 256:500,512:300.")]
    [TestCase("256:500:1", "--schedule entry '256:500:1' is not SIZE:ITERATIONS;")]
    [TestCase("256-500", "--schedule entry '256-500' is not SIZE:ITERATIONS;")]
    [TestCase("256:", "--schedule entry '256:': the iteration count '' is not a whole number.")]
    [TestCase(":500", "--schedule entry ':500': the size '' is not a whole number.")]
    [TestCase("abc:5", "--schedule entry 'abc:5': the size 'abc' is not a whole number.")]
    [TestCase("256.5:5", "--schedule entry '256.5:5': the size '256.5' is not a whole number.")]
    [TestCase("256:1e3", "--schedule entry '256:1e3': the iteration count '1e3' is not a whole number.")]
    [TestCase("99999999999:5", "--schedule entry '99999999999:5': the size '99999999999' is not a whole number.")]
    [TestCase("0:5", "--schedule entry '0:5': the size must be a positive number of pixels.")]
    [TestCase("-256:5", "--schedule entry '-256:5': the size must be a positive number of pixels.")]
    [TestCase("256:-1", "--schedule entry '256:-1': the iteration count must not be negative.")]
    [TestCase("512:5,256:5", "--schedule must go from coarse to fine, each size larger than the one before: " +
                             "256 comes after 512.")]
    [TestCase("256:5,256:9", "--schedule must go from coarse to fine, each size larger than the one before: " +
                             "256 comes after 256.")]
    public void EveryScheduleErrorIsOneLineNamingTheOption(string text, string message)
    {
        var e = Assert.Throws<UsageException>(() => ScaleSchedule.Parse(text))!;
        Assert.That(e.Message, Does.StartWith(message));
        Assert.That(e.Message, Does.Not.Contain('\n'));
    }
}
