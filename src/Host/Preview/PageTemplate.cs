using System.Net;
using System.Reflection;
using System.Text.RegularExpressions;

namespace IlgpuStyle.Host;

/// <summary>
/// The one page of a run (Assets/page.html, its script and style, and uPlot, the charting library, with its licence),
/// embedded in the program so the live page and the report work offline: filled live (the run arrives from
/// <c>/events</c>) or as a report (the run inlined).
/// </summary>
internal static partial class PageTemplate
{
    /// <summary>The live page: its script reads the run from the server.</summary>
    public static string Live(string title) => Fill("live", title, "null");

    /// <summary>A report: <paramref name="runJson"/> (<see cref="RunWatch.Message"/> with everything) inlined.
    /// </summary>
    public static string Report(string title, string runJson) => Fill("report", title, runJson);

    /// <summary>uPlot's licence, which travels with its code.</summary>
    public static string ChartLicence => Asset("uPlot.LICENSE");

    /// <summary>The page with every marker filled in one pass, so nothing inserted is read as a marker.</summary>
    private static string Fill(string mode, string title, string runJson)
    {
        var values = new Dictionary<string, string>
        {
            ["MODE"] = mode,
            ["TITLE"] = WebUtility.HtmlEncode(title),
            ["UPLOT_CSS"] = Asset("uPlot.min.css"),
            ["PAGE_CSS"] = Asset("page.css"),
            // The licence's notice rides with the code it covers, as MIT asks.
            ["UPLOT_JS"] = "/*\n" + ChartLicence.Replace("*/", "* /", StringComparison.Ordinal) + "*/\n" +
                           Asset("uPlot.iife.min.js"),
            ["PAGE_JS"] = Asset("page.js"),
            // System.Text.Json escapes '<', so the JSON cannot close the script element it sits in.
            ["RUN_JSON"] = runJson,
        };
        return Marker().Replace(Asset("page.html"), m => values[m.Groups[1].Value]);
    }

    [GeneratedRegex(@"\{\{([A-Z_]+)\}\}")]
    private static partial Regex Marker();

    private static string Asset(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Preview." + name)
                           ?? throw new InvalidOperationException($"The program has no embedded {name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
