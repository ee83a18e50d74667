using System.Net;
using System.Text;
using IlgpuStyle.Weights.Files;

namespace IlgpuStyle.Host;

/// <summary>
/// <c>--html-report FILE.html</c>: the page of a run, written once at its end with everything inlined (the images
/// as data URIs, the charting library, the losses, the options and the plan), so it opens from disk years later
/// with no server and no network; and a batch's index page, linking every item's report.
/// </summary>
internal static class HtmlReport
{
    /// <summary>Writes the report of <paramref name="watch"/>'s run to <paramref name="path"/>, atomically.</summary>
    public static void Write(RunWatch watch, string path) =>
        WriteAtomically(path, PageTemplate.Report(watch.Title, watch.Message(cursor: null)));

    /// <summary>One row of a batch's index: the item's name, what happened to it, its output and its report (null
    /// when it has none).</summary>
    internal sealed record IndexRow(string Name, string Outcome, string? Output, string? Report);

    /// <summary>Writes a batch's index page to <paramref name="path"/>: one row per item, linking its report and
    /// its output by paths relative to the index.</summary>
    public static void WriteIndex(string path, string title, IEnumerable<IndexRow> rows)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string Link(string? file, string text) => file is null || !File.Exists(file)
            ? "-"
            : $"<a href=\"{Encode(Path.GetRelativePath(folder, Path.GetFullPath(file)).Replace('\\', '/'))}\">" +
              $"{Encode(text)}</a>";
        var html = new StringBuilder();
        html.Append("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append($"<title>{Encode(title)}</title>\n")
            .Append("<style>body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; } ")
            .Append("td, th { text-align: left; padding: .2em 1.2em .2em 0; border-bottom: 1px solid #e4e4e4; }")
            .Append("</style>\n</head>\n<body>\n")
            .Append($"<h1>{Encode(title)}</h1>\n<table>\n<tr><th>image</th><th>outcome</th><th>report</th>")
            .Append("<th>output</th></tr>\n");
        foreach (var row in rows)
        {
            html.Append($"<tr><td>{Encode(row.Name)}</td><td>{Encode(row.Outcome)}</td>")
                .Append($"<td>{Link(row.Report, "report")}</td>")
                .Append($"<td>{Link(row.Output, row.Output is null ? "" : Path.GetFileName(row.Output))}</td></tr>\n");
        }
        html.Append("</table>\n</body>\n</html>\n");
        WriteAtomically(path, html.ToString());
    }

    /// <summary>Writes the index of a batch or video (<paramref name="items"/>: "images", "frames") and says so; a
    /// failure to write it is one error line, since the items themselves are written.</summary>
    public static void WriteIndexOrSay(string path, string title, IReadOnlyList<IndexRow> rows, string items,
        TextWriter output, TextWriter error)
    {
        try
        {
            WriteIndex(path, title, rows);
            output.WriteLine($"Wrote the index {path} ({rows.Count} {items}).");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OutputPathException)
        {
            error.WriteLine($"error: could not write the index '{path}' ({e.Message.TrimEnd('.')}); the {items} " +
                            "were written.");
        }
    }

    private static string Encode(string text) => WebUtility.HtmlEncode(text);

    /// <summary>Writes to a temporary file beside <paramref name="path"/>, then renames it over it.</summary>
    private static void WriteAtomically(string path, string text)
    {
        string full = FileIdentity.OutputPath(path);
        string temp = full + $".{Environment.ProcessId}.tmp";
        try
        {
            File.WriteAllText(temp, text);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
