using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace IlgpuStyle.Host;

/// <summary>
/// The range a real-number option takes, as its error message states it.
/// </summary>
/// <param name="Contains">Whether a finite value is in range.</param>
/// <param name="Expected">What the option takes, for the message (<c>a positive number</c>).</param>
internal sealed record RealRange(Func<double, bool> Contains, string Expected)
{
    /// <summary>Greater than 0 (a size ratio, a learning rate).</summary>
    public static RealRange Positive { get; } = new(v => v > 0, "a positive number");

    /// <summary>0 or more.</summary>
    public static RealRange NonNegative { get; } = new(v => v >= 0, "a number, 0 or more");

    /// <summary>From 0 up to, but not including, 1 (a decay).</summary>
    public static RealRange Fraction { get; } =
        new(v => v is >= 0 and < 1, "a number from 0 up to, but not including, 1");

    /// <summary>Greater than 1 (a ratio between consecutive sizes).</summary>
    public static RealRange AboveOne { get; } = new(v => v > 1, "a number greater than 1");
}

/// <summary>
/// Numeric options, read the same way under every locale and checked against their range while the
/// command line is parsed, once, for every command that has them. A German locale would otherwise read
/// <c>1.5</c> as 15 (the dot is its thousands separator), and System.CommandLine's own message names .NET
/// types ("as expected type 'System.Int32'"); here every value is parsed with the invariant culture, and a
/// value that is not one finite number in range is a one-line error naming the option, what it takes, and
/// the value given.
/// </summary>
internal static class NumberOptions
{
    /// <summary>A whole-number option from <paramref name="minimum"/> up.</summary>
    public static Option<int> Whole(string name, string description, int defaultValue, int minimum = int.MinValue)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.CustomParser = result => ParseWhole(result, name, minimum) ?? defaultValue;
        return option;
    }

    /// <summary>A whole-number option from <paramref name="minimum"/> up without a default (null when left out).
    /// </summary>
    public static Option<int?> OptionalWhole(string name, string description, int minimum = int.MinValue)
    {
        var option = new Option<int?>(name) { Description = description };
        option.CustomParser = result => ParseWhole(result, name, minimum);
        return option;
    }

    /// <summary>Whole numbers from <paramref name="minimum"/> up, one or more (<c>--size 256 512</c>).</summary>
    public static Option<int[]> WholeList(string name, string description, int[] defaultValue, int minimum)
    {
        var option = new Option<int[]>(name)
        {
            Description = description, DefaultValueFactory = _ => defaultValue, AllowMultipleArgumentsPerToken = true,
        };
        option.CustomParser = result =>
        {
            var values = new List<int>();
            foreach (var token in result.Tokens)
            {
                if (!TryWhole(token.Value, out int value) || value < minimum)
                {
                    result.AddError(OutOfRange(token.Value)
                        ? string.Create(CultureInfo.InvariantCulture,
                            $"{name} takes whole numbers from {minimum} to {int.MaxValue}; " +
                            $"'{token.Value}' is out of range.")
                        : $"{name} takes {WholeExpected(minimum, plural: true)}; '{token.Value}' is not one.");
                    return defaultValue;
                }
                values.Add(value);
            }
            return [.. values];
        };
        return option;
    }

    /// <summary>
    /// A real-number option in <paramref name="range"/>; leaving it out gives <paramref name="defaultValue"/>
    /// (null: its default depends on the run).
    /// </summary>
    /// <param name="name">The option.</param>
    /// <param name="description">Its help text.</param>
    /// <param name="range">The values it takes.</param>
    /// <param name="defaultValue">The value when the option is absent; null lets the run choose.</param>
    /// <param name="maximum">The largest value (a float option: <see cref="float.MaxValue"/>).</param>
    /// <param name="hint">What the message adds after the range, e.g. <c>(0: off; 0.99 suits Adam)</c>.</param>
    public static Option<double?> Real(string name, string description, RealRange range, double? defaultValue = null,
        double maximum = double.MaxValue, string hint = "(like 1.5 or 1e-3)")
    {
        var option = new Option<double?>(name) { Description = description };
        if (defaultValue is { } d) option.DefaultValueFactory = _ => d;
        option.CustomParser = result =>
        {
            string text = Last(result);
            bool number = TryReal(text, out double value) && range.Contains(value);
            if (number && value <= maximum) return value;
            result.AddError(number
                ? string.Create(CultureInfo.InvariantCulture,
                    $"{name} is at most {maximum:0.#e0}; '{text}' is too large.")
                : $"{name} takes {range.Expected} {hint}; '{text}' is not one.");
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
            if (!TryReal(item, out double value) || value < 0 || !float.IsFinite((float)value))
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

    /// <summary>
    /// An option of two whole numbers of pixels, <c>WIDTHxHEIGHT</c>, each at least 1 (null when left out).
    /// </summary>
    public static Option<(int Width, int Height)?> Dimensions(string name, string description)
    {
        var option = new Option<(int Width, int Height)?>(name) { Description = description, HelpName = "WxH" };
        option.CustomParser = result =>
        {
            string text = Last(result);
            var parts = text.Split('x', 'X');
            if (parts.Length == 2 && parts.All(p => p.Length > 0 && char.IsAsciiDigit(p[0]))
                && TryWhole(parts[0], out int width) && TryWhole(parts[1], out int height) && width >= 1
                && height >= 1)
                return (width, height);
            result.AddError($"{name} takes WIDTHxHEIGHT in pixels, e.g. 512x384; '{text}' is not that.");
            return null;
        };
        return option;
    }

    /// <summary>Parses with the invariant culture: a sign, digits, a dot, an exponent; no separators; finite.</summary>
    public static bool TryReal(string text, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);

    /// <summary>The one whole-number reader of the command line: an optional sign and digits, invariant
    /// culture, in int's range.</summary>
    public static bool TryWhole(string text, out int value) =>
        int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    private static string WholeExpected(int minimum, bool plural = false) => (plural, minimum) switch
    {
        (false, int.MinValue) => "a whole number",
        (false, _) => $"a whole number, at least {minimum}",
        (true, int.MinValue) => "whole numbers",
        (true, _) => $"whole numbers, each at least {minimum}",
    };

    private static int? ParseWhole(ArgumentResult result, string name, int minimum)
    {
        string text = Last(result);
        if (TryWhole(text, out int value) && value >= minimum) return value;
        result.AddError(OutOfRange(text)
            ? string.Create(CultureInfo.InvariantCulture,
                $"{name} takes a whole number from {minimum} to {int.MaxValue}; '{text}' is out of range.")
            : $"{name} takes {WholeExpected(minimum)}; '{text}' is not one.");
        return null;
    }

    /// <summary>Whether <paramref name="text"/> is a whole number, but one past int's range.</summary>
    private static bool OutOfRange(string text) =>
        System.Numerics.BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture,
            out var big) && (big > int.MaxValue || big < int.MinValue);

    /// <summary>The value given (the last one when the option is repeated).</summary>
    internal static string Last(ArgumentResult result) => result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
}
