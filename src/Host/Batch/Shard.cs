using System.Globalization;

namespace IlgpuStyle.Host;

/// <summary>
/// Which share of a batch this process renders: shard <see cref="Index"/> of <see cref="Count"/> takes the items
/// whose position in the whole list (from 0) leaves <see cref="Index"/> when divided by <see cref="Count"/>. The
/// share-out depends on the list and the two numbers alone, so every task of a job array computes the same split
/// without talking to the others, and a task run again takes the same items.
/// </summary>
/// <param name="Index">This shard, from 0.</param>
/// <param name="Count">How many shards the batch is split into.</param>
/// <param name="Source">Where the two numbers came from, for the batch's first line.</param>
internal sealed record Shard(int Index, int Count, string Source)
{
    /// <summary>The whole batch in one process.</summary>
    public static Shard Whole { get; } = new(0, 1, "no shard given");

    /// <summary>The environment variable that gives a Kubernetes Indexed Job's shard count (the Job sets
    /// <c>JOB_COMPLETION_INDEX</c> but not its completions).</summary>
    public const string CountVariable = "ILGPU_STYLE_SHARD_COUNT";

    /// <summary>Whether the item at <paramref name="position"/> of the whole list is this shard's.</summary>
    public bool Takes(int position) => position % Count == Index;

    /// <summary>
    /// A file that every shard would otherwise write under one name (a batch's or video's index page), named for
    /// this shard: <c>index.html</c> becomes <c>index-shard-2-of-3.html</c>, so no shard overwrites another's. The
    /// whole run (one shard) keeps the name.
    /// </summary>
    public string Own(string path) => Count == 1
        ? path
        : Path.Combine(Path.GetDirectoryName(path) ?? "",
            $"{Path.GetFileNameWithoutExtension(path)}-shard-{Index}-of-{Count}{Path.GetExtension(path)}");

    /// <summary>
    /// The shard from <c>--shard INDEX/COUNT</c>; else from the scheduler's environment: a Slurm job array
    /// (<c>SLURM_ARRAY_TASK_ID</c> and <c>SLURM_ARRAY_TASK_COUNT</c>, the id counted from
    /// <c>SLURM_ARRAY_TASK_MIN</c> in steps of <c>SLURM_ARRAY_TASK_STEP</c>), a Kubernetes Indexed Job
    /// (<c>JOB_COMPLETION_INDEX</c>), an AWS Batch array job (<c>AWS_BATCH_JOB_ARRAY_INDEX</c> and
    /// <c>AWS_BATCH_JOB_ARRAY_SIZE</c>); else the whole batch. <paramref name="count"/> (<c>--shard-count</c>, else
    /// <see cref="CountVariable"/>) sets the count, and the scheduler's index is then taken as it is: a single task
    /// of a 3-task Slurm array resubmitted alone (<c>--array=1</c>) is still shard 1 of 3.
    /// </summary>
    /// <exception cref="UsageException">A malformed value, an index outside 0 to count - 1, a Kubernetes index
    /// without a count.</exception>
    public static Shard Of(string? option, int? count, Func<string, string?> environment)
    {
        count ??= Number(environment(CountVariable), CountVariable);
        if (option is not null) return FromOption(option, count);
        if (environment("SLURM_ARRAY_TASK_ID") is { } slurm)
        {
            int id = Number(slurm, "SLURM_ARRAY_TASK_ID")!.Value;
            if (count is { } given) return Checked(id, given, $"SLURM_ARRAY_TASK_ID={id}, --shard-count {given}");
            int min = Number(environment("SLURM_ARRAY_TASK_MIN"), "SLURM_ARRAY_TASK_MIN") ?? 0;
            int step = Number(environment("SLURM_ARRAY_TASK_STEP"), "SLURM_ARRAY_TASK_STEP") ?? 1;
            int tasks = Number(environment("SLURM_ARRAY_TASK_COUNT"), "SLURM_ARRAY_TASK_COUNT")
                        ?? throw new UsageException("SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT: " +
                                                    "give the array's size with --shard-count.");
            if (step < 1 || (id - min) % step != 0)
                throw new UsageException($"SLURM_ARRAY_TASK_ID={id} is not in the array's steps of {step} from {min}.");
            return Checked((id - min) / step, tasks,
                $"SLURM_ARRAY_TASK_ID={id} of {tasks} tasks from {min}" + (step == 1 ? "" : $" in steps of {step}"));
        }
        if (environment("JOB_COMPLETION_INDEX") is { } job)
        {
            int index = Number(job, "JOB_COMPLETION_INDEX")!.Value;
            if (count is not { } completions)
            {
                throw new UsageException($"JOB_COMPLETION_INDEX={index} is set (a Kubernetes Indexed Job) but not " +
                                         $"the number of shards: give --shard-count or {CountVariable} (the Job's " +
                                         "completions).");
            }
            return Checked(index, completions, $"JOB_COMPLETION_INDEX={index}, {completions} completions");
        }
        if (environment("AWS_BATCH_JOB_ARRAY_INDEX") is { } aws)
        {
            int index = Number(aws, "AWS_BATCH_JOB_ARRAY_INDEX")!.Value;
            int size = count ?? Number(environment("AWS_BATCH_JOB_ARRAY_SIZE"), "AWS_BATCH_JOB_ARRAY_SIZE")
                ?? throw new UsageException("AWS_BATCH_JOB_ARRAY_INDEX is set without AWS_BATCH_JOB_ARRAY_SIZE: " +
                                            "give the array's size with --shard-count.");
            return Checked(index, size, $"AWS_BATCH_JOB_ARRAY_INDEX={index} of {size}");
        }
        return count is { } only ? Checked(0, only, $"--shard-count {only} without an index: shard 0") : Whole;
    }

    private static Shard FromOption(string option, int? count)
    {
        string[] parts = option.Split('/');
        if (parts.Length != 2 || !IsWhole(parts[0], out int index) || !IsWhole(parts[1], out int total))
            throw new UsageException($"--shard '{option}' is not INDEX/COUNT (like 0/4: the first of 4 shards).");
        if (count is { } given && given != total)
            throw new UsageException($"--shard {option} says {total} shards and --shard-count says {given}.");
        return Checked(index, total, $"--shard {option}");
    }

    private static Shard Checked(int index, int count, string source)
    {
        if (count < 1) throw new UsageException($"A batch cannot be split into {count} shards ({source}).");
        if (index >= count)
        {
            throw new UsageException($"Shard index {index} is out of range for {count} shards (0 to {count - 1}; " +
                                     $"{source}). Nothing was rendered.");
        }
        return new Shard(index, count, source);
    }

    private static bool IsWhole(string text, out int value) =>
        int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out value);

    /// <summary>A whole number 0 or more, or null for no value.</summary>
    private static int? Number(string? text, string what)
    {
        if (text is null) return null;
        if (!IsWhole(text, out int value))
            throw new UsageException($"{what} '{text}' is not a whole number 0 or more.");
        return value;
    }
}
