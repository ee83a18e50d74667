using IlgpuStyle.Host;

namespace IlgpuStyle.Tests.Host;

/// <summary>Which shard a process is (issue 26): from <c>--shard</c> or the environment of the schedulers users run
/// (Slurm job arrays, Kubernetes Indexed Jobs, AWS Batch array jobs), and the share-out it implies.</summary>
public sealed class ShardTests
{
    private static Shard Of(string? option, int? count, params (string Name, string Value)[] environment) =>
        Shard.Of(option, count, name => environment.FirstOrDefault(e => e.Name == name).Value);

    [Test]
    public void EachSchedulerGivesItsIndexAndCount()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Of(null, null), Is.EqualTo(Shard.Whole));
            Assert.That(Of("1/3", null) is { Index: 1, Count: 3 });
            Assert.That(Of(null, null, ("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "3")) is
                { Index: 2, Count: 3 });
            Assert.That(Of(null, null, ("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_STEP", "2"), ("SLURM_ARRAY_TASK_COUNT", "3")) is { Index: 2, Count: 3 });
            Assert.That(Of(null, 3, ("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "1")) is { Index: 1, Count: 3 }, "a task resubmitted alone");
            Assert.That(Of(null, null, ("JOB_COMPLETION_INDEX", "4"), (Shard.CountVariable, "6")) is
                { Index: 4, Count: 6 });
            Assert.That(Of(null, 6, ("JOB_COMPLETION_INDEX", "4")) is { Index: 4, Count: 6 });
            Assert.That(Of(null, null, ("AWS_BATCH_JOB_ARRAY_INDEX", "0"), ("AWS_BATCH_JOB_ARRAY_SIZE", "2")) is
                { Index: 0, Count: 2 });
            Assert.That(Of("0/2", null, ("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "3")) is
                { Index: 0, Count: 2 }, "--shard wins");
        });
    }

    [TestCase("3/3", null, "Shard index 3 is out of range for 3 shards")]
    [TestCase("1of3", null, "is not INDEX/COUNT")]
    [TestCase("-1/3", null, "is not INDEX/COUNT")]
    [TestCase("0/0", null, "cannot be split into 0 shards")]
    [TestCase("1/3", 4, "says 3 shards and --shard-count says 4")]
    public void AMalformedOrOutOfRangeShardIsRefused(string option, int? count, string message) =>
        Assert.That(() => Of(option, count), Throws.TypeOf<UsageException>().With.Message.Contains(message));

    [Test]
    public void AnEnvironmentWithoutACountOrOutOfRangeIsRefused()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => Of(null, null, ("JOB_COMPLETION_INDEX", "1")),
                Throws.TypeOf<UsageException>().With.Message.Contains("--shard-count or ILGPU_STYLE_SHARD_COUNT"));
            Assert.That(() => Of(null, null, ("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "3")),
                Throws.TypeOf<UsageException>().With.Message.Contains("out of range for 3 shards"));
            Assert.That(() => Of(null, null, ("AWS_BATCH_JOB_ARRAY_INDEX", "x"), ("AWS_BATCH_JOB_ARRAY_SIZE", "2")),
                Throws.TypeOf<UsageException>().With.Message.Contains("not a whole number"));
        });
    }

    /// <summary>Every item goes to exactly one shard, whatever the count, and the shares differ by at most one.
    /// </summary>
    [Test]
    public void TheShareOutCoversEveryItemOnce()
    {
        foreach (int count in new[] { 1, 2, 3, 7 })
        {
            var shards = Enumerable.Range(0, count).Select(i => new Shard(i, count, "test")).ToList();
            var owners = Enumerable.Range(0, 20).Select(item => shards.Count(s => s.Takes(item))).ToList();
            Assert.That(owners, Has.All.EqualTo(1), $"{count} shards");
            var sizes = shards.Select(s => Enumerable.Range(0, 20).Count(s.Takes)).ToList();
            Assert.That(sizes.Max() - sizes.Min(), Is.LessThanOrEqualTo(1));
        }
    }
}
