using System.Text;

namespace IlgpuStyle.Host;

/// <summary>
/// One image of a batch: where it stands in the whole list, how reports name it, and the main job's options that
/// differ from the batch's own (<c>--content</c>, <c>--style</c>, <c>--output</c>, a manifest row's options).
/// </summary>
/// <param name="Position">Its place in the whole list, from 0 (what <see cref="Shard"/> divides).</param>
/// <param name="Name">How messages name it: <c>row 4 (photos/a.jpg)</c>, or the content file.</param>
/// <param name="Arguments">Main-job arguments for this item alone; they replace the batch's own of the same name.
/// </param>
/// <param name="Problem">Null, or why the item cannot run (a malformed row): it then fails with this.</param>
internal sealed record BatchItem(int Position, string Name, IReadOnlyList<string> Arguments, string? Problem = null);

/// <summary>
/// The items of a batch, from a manifest or from file patterns, in a fixed order (the manifest's rows; the patterns'
/// matches by name), so every shard of a job array sees the same list.
/// </summary>
internal static class BatchItems
{
    /// <summary>The manifest's columns; content and output are required, style may come from the command line.
    /// </summary>
    private static readonly string[] Columns = ["content", "style", "output", "options"];

    /// <summary>
    /// Reads a CSV manifest: a header naming its columns (<c>content,style,output</c> and optionally
    /// <c>options</c>, in any order), then one row per image; blank lines and lines starting with <c>#</c> are
    /// skipped. Fields may be double-quoted (<c>""</c> is a quote). Relative image paths are relative to the
    /// manifest's folder; relative outputs to <paramref name="outputFolder"/> when given, else to the manifest's
    /// folder. The style field is read like <c>--style</c> (comma-separated); the options field is more of the main
    /// job's options for that row (<c>--size 256 --style-weight 50</c>; quote a value with spaces in '').
    /// </summary>
    /// <exception cref="UsageException">A manifest that cannot be read, or whose header is not one.</exception>
    public static List<BatchItem> FromManifest(string manifest, string? outputFolder)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(manifest);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"Cannot read the manifest '{manifest}': {e.Message}");
        }
        string folder = Path.GetDirectoryName(Path.GetFullPath(manifest))!;
        int header = Array.FindIndex(lines, l => !Skipped(l));
        if (header < 0) throw new UsageException($"The manifest '{manifest}' has no header and no rows.");
        var names = Fields(lines[header]) ?? throw Header(manifest, "an unclosed quote");
        var column = names.Select(n => n.Trim().ToLowerInvariant()).ToList();
        if (column.FirstOrDefault(c => !Columns.Contains(c)) is { } unknown)
            throw Header(manifest, $"an unknown column '{unknown}'");
        if (!column.Contains("content") || !column.Contains("output"))
            throw Header(manifest, "no 'content' or no 'output' column");
        if (column.Distinct().Count() != column.Count) throw Header(manifest, "a column named twice");

        var items = new List<BatchItem>();
        for (int i = header + 1; i < lines.Length; i++)
        {
            if (Skipped(lines[i])) continue;
            string row = $"row {i + 1}";
            var fields = Fields(lines[i]);
            if (fields is null || fields.Count != column.Count)
            {
                string why = fields is null
                    ? "an unclosed quote"
                    : $"{fields.Count} fields where the header has {column.Count}";
                items.Add(new BatchItem(items.Count, row, [], $"{why} (a value with commas must be quoted)."));
                continue;
            }
            string Field(string name) => column.IndexOf(name) is var k and >= 0 ? fields[k].Trim() : "";
            string content = Field("content"), output = Field("output");
            var arguments = new List<string> { "--content", Relative(folder, content) };
            if (Field("style") is { Length: > 0 } style)
            {
                arguments.Add("--style");
                arguments.Add(string.Join(',', style.Split(',').Select(s => Relative(folder, s.Trim()))));
            }
            arguments.Add("--output");
            arguments.Add(Relative(outputFolder ?? folder, output));
            var options = Tokens(Field("options"));
            string? problem = content.Length == 0 ? "no content file." : output.Length == 0 ? "no output file." : null;
            if (options is null) problem ??= "its options have an unclosed quote.";
            else arguments.AddRange(options);
            items.Add(new BatchItem(items.Count, content.Length > 0 ? $"{row} ({content})" : row, arguments,
                problem));
        }
        return items;
    }

    /// <summary>
    /// The images <paramref name="patterns"/> name: a file as it is, or a folder and a file name with <c>*</c> and
    /// <c>?</c> (<c>photos/*.jpg</c>), whose matches come in name order; each writes
    /// <paramref name="outputFolder"/>/its name with <paramref name="extension"/>. A file named twice is one item. A
    /// pattern that matches nothing, or a file that is missing, is an item that fails and says so.
    /// </summary>
    public static List<BatchItem> FromPatterns(IReadOnlyList<string> patterns, string outputFolder, string extension)
    {
        var items = new List<BatchItem>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string pattern in patterns)
        {
            string name = Path.GetFileName(pattern);
            List<string> files;
            if (name.IndexOfAny(['*', '?']) < 0)
            {
                files = [pattern];
            }
            else
            {
                string folder = Path.GetDirectoryName(pattern) is { Length: > 0 } f ? f : ".";
                files = Directory.Exists(folder)
                    ? Directory.EnumerateFiles(folder, name).Select(p => Path.Combine(Path.GetDirectoryName(pattern)
                        ?? "", Path.GetFileName(p))).Order(StringComparer.Ordinal).ToList()
                    : [];
                if (files.Count == 0)
                {
                    items.Add(new BatchItem(items.Count, pattern, [], "the pattern matches no file."));
                    continue;
                }
            }
            foreach (string file in files.Where(f => seen.Add(Path.GetFullPath(f))))
            {
                string output = Path.Combine(outputFolder, Path.GetFileNameWithoutExtension(file) + extension);
                items.Add(new BatchItem(items.Count, file, ["--content", file, "--output", output]));
            }
        }
        return items;
    }

    /// <summary>
    /// The main job's arguments for an item: <paramref name="shared"/> (the batch's command line), with every option
    /// that <paramref name="item"/> gives replaced by the item's value (<c>--size</c> in a row wins over the batch's).
    /// An option is a token starting with <c>--</c> and the tokens up to the next one (its values, or none for a
    /// flag); <c>--name=value</c> is the same option.
    /// </summary>
    public static List<string> Merge(IReadOnlyList<string> shared, IReadOnlyList<string> item)
    {
        var own = Options(item);
        var merged = Options(shared).Where(o => !own.Any(i => i.Name == o.Name)).Concat(own);
        return merged.SelectMany(o => o.Tokens).ToList();
    }

    /// <summary>The names of the options in <paramref name="arguments"/> (<c>--size</c>).</summary>
    public static IEnumerable<string> Names(IReadOnlyList<string> arguments) => Options(arguments).Select(o => o.Name);

    /// <summary>The value of the last <paramref name="name"/> in <paramref name="arguments"/> (<c>--name value</c> or
    /// <c>--name=value</c>), or null when it is not there or has no value.</summary>
    public static string? Value(IReadOnlyList<string> arguments, string name)
    {
        var option = Options(arguments).LastOrDefault(o => o.Name == name);
        if (option.Tokens is null) return null;
        int equals = option.Tokens[0].IndexOf('=');
        return equals >= 0 ? option.Tokens[0][(equals + 1)..] : option.Tokens.Count > 1 ? option.Tokens[1] : null;
    }

    private static List<(string Name, List<string> Tokens)> Options(IReadOnlyList<string> arguments)
    {
        var options = new List<(string Name, List<string> Tokens)>();
        foreach (string token in arguments)
        {
            if (token.StartsWith("--", StringComparison.Ordinal) || options.Count == 0)
                options.Add((token.Split('=')[0], [token]));
            else
                options[^1].Tokens.Add(token);
        }
        return options;
    }

    private static bool Skipped(string line) => line.Trim().Length == 0 || line.TrimStart().StartsWith('#');

    private static UsageException Header(string manifest, string what) =>
        new($"The manifest '{manifest}' has {what} in its header; the first line names the columns: " +
            "content,style,output[,options].");

    private static string Relative(string folder, string path) =>
        path.Length == 0 || Path.IsPathRooted(path) ? path : Path.Combine(folder, path);

    /// <summary>A CSV line's fields, or null for an unclosed quote.</summary>
    private static List<string>? Fields(string line)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted && c == '"' && i + 1 < line.Length && line[i + 1] == '"')
            {
                field.Append('"');
                i++;
            }
            else if (c == '"')
            {
                quoted = !quoted;
            }
            else if (c == ',' && !quoted)
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else
            {
                field.Append(c);
            }
        }
        fields.Add(field.ToString());
        return quoted ? null : fields;
    }

    /// <summary>An options field split at spaces, a value in single quotes kept whole; null for an unclosed quote.
    /// </summary>
    private static List<string>? Tokens(string text)
    {
        var tokens = new List<string>();
        var token = new StringBuilder();
        bool quoted = false, any = false;
        foreach (char c in text)
        {
            if (c == '\'')
            {
                quoted = !quoted;
                any = true;
            }
            else if (char.IsWhiteSpace(c) && !quoted)
            {
                if (any) tokens.Add(token.ToString());
                token.Clear();
                any = false;
            }
            else
            {
                token.Append(c);
                any = true;
            }
        }
        if (any) tokens.Add(token.ToString());
        return quoted ? null : tokens;
    }
}
