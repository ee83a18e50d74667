using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace IlgpuStyle.Host;

/// <summary>
/// Numeric options, read the same way under every locale and checked against their range while the
/// command line is parsed. A German locale would otherwise read <c>1.5</c> as 15 (the dot is its
/// thousands separator), and System.CommandLine's own message names .NET types
/// ("as expected type 'System.Int32'"); here every value is parsed with the invariant culture, and
/// a value that is not one finite number in range is a one-line error naming the option, what it
/// takes, and the value given.
/// </summary>
internal static class NumberOptions
{
    /// <summary>A whole-number option from <paramref name="minimum"/> up.</summary>
    public static Option<int> Whole(string name, string description, int defaultValue, int minimum = int.MinValue)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        string expected = minimum == int.MinValue ? "a whole number" : $"a whole number, at least {minimum}";
        option.CustomParser = result => ParseWhole(result, name, expected, minimum) ?? defaultValue;
        return option;
    }

    /// <summary>A whole-number option without a default (null when left out); its range is the run's to
    /// check.</summary>
    public static Option<int?> OptionalWhole(string name, string description)
    {
        var option = new Option<int?>(name) { Description = description };
        option.CustomParser = result => ParseWhole(result, name, "a whole number", int.MinValue);
        return option;
    }

    /// <summary>Whole numbers from <paramref name="minimum"/> up, one or more (<c>--size 256 512</c>).</summary>
    public static Option<int[]> WholeList(string name, string description, int[] defaultValue, int minimum)
    {
        var option = new Option<int[]>(name)
        {
            Description = description, DefaultValueFactory = _ => defaultValue, AllowMultipleArgumentsPerToken = true,
        };
        string expected = $"whole numbers, each at least {minimum}";
        option.CustomParser = result =>
        {
            var values = new List<int>();
            foreach (var token in result.Tokens)
            {
                if (!TryWhole(token.Value, minimum, out int value))
                {
                    result.AddError($"{name} takes {expected}; '{token.Value}' is not one.");
                    return defaultValue;
                }
                values.Add(value);
            }
            return [.. values];
        };
        return option;
    }

    /// <summary>
    /// A real-number option that is positive (<paramref name="zeroAllowed"/> false) or not negative;
    /// leaving it out gives null (its default depends on the run), or <paramref name="defaultValue"/>.
    /// </summary>
    /// <param name="name">The option.</param>
    /// <param name="description">Its help text.</param>
    /// <param name="zeroAllowed">Whether 0 is in range.</param>
    /// <param name="defaultValue">The value when the option is absent; null lets the run choose.</param>
    /// <param name="maximum">The largest value (a float option: <see cref="float.MaxValue"/>).</param>
    public static Option<double?> Real(string name, string description, bool zeroAllowed, double? defaultValue = null,
        double maximum = double.MaxValue)
    {
        var option = new Option<double?>(name) { Description = description };
        if (defaultValue is { } d) option.DefaultValueFactory = _ => d;
        string expected = (zeroAllowed ? "a number, 0 or more" : "a positive number") + " (like 1.5 or 1e-3)";
        option.CustomParser = result =>
        {
            string text = Last(result);
            bool number = TryReal(text, zeroAllowed, out double value);
            if (number && value <= maximum) return value;
            result.AddError(number
                ? string.Create(CultureInfo.InvariantCulture,
                    $"{name} is at most {maximum:0.#e0}; '{text}' is too large.")
                : $"{name} takes {expected}; '{text}' is not one.");
            return defaultValue;
        };
        return option;
    }

    /// <summary>
    /// A comma-separated list of weights (<c>1,0.5,2</c>): each a finite number, 0 or more, and not
    /// all 0 (a blend or a set of layer weights that weighs nothing). Null when the option is absent.
    /// </summary>
    public static List<float>? Weights(string? text, string option)
    {
        if (text is null) return null;
        var items = text.Split(',', StringSplitOptions.TrimEntries);
        var weights = new List<float>();
        foreach (string item in items)
        {
            if (!TryReal(item, zeroAllowed: true, out double value) || !float.IsFinite((float)value))
            {
                throw new UsageException(
                    $"{option} takes comma-separated numbers, each 0 or more (like 1,0.5); '{item}' is not one.");
            }
            weights.Add((float)value);
        }
        if (weights.All(w => w == 0))
            throw new UsageException($"{option} must not be all 0; got '{text}'. Give at least one positive weight.");
        return weights;
    }

    /// <summary>Parses with the invariant culture: a sign, digits, a dot, an exponent; no separators.</summary>
    public static bool TryReal(string text, bool zeroAllowed, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value)
        && double.IsFinite(value) && (zeroAllowed ? value >= 0 : value > 0);

    private static bool TryWhole(string text, int minimum, out int value) =>
        int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value) && value >= minimum;

    private static int? ParseWhole(ArgumentResult result, string name, string expected, int minimum)
    {
        string text = Last(result);
        if (TryWhole(text, minimum, out int value)) return value;
        result.AddError($"{name} takes {expected}; '{text}' is not one.");
        return null;
    }

    /// <summary>The value given (the last one when the option is repeated).</summary>
    private static string Last(ArgumentResult result) => result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
}
