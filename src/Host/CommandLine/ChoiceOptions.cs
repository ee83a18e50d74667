using System.CommandLine;
using System.Globalization;

namespace IlgpuStyle.Host;

/// <summary>
/// Options that take one of a few names (<c>--pooling max|avg|l2</c>) or numbers (<c>--bit-depth 8|16</c>). An
/// enum member's name on the command line is its C# name in kebab case (<c>PostLuminance</c> is
/// <c>post-luminance</c>, <c>Lbfgs</c> is <c>lbfgs</c>): <see cref="Name{T}"/> writes it and
/// <see cref="Parse{T}"/> reads it, for every such option, its help and every message that names a value.
/// </summary>
internal static class ChoiceOptions
{
    /// <summary>An option value as the command line spells it (<c>post-luminance</c>).</summary>
    public static string Name<T>(T value) where T : struct, Enum =>
        string.Concat(value.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? $"-{char.ToLowerInvariant(c)}"
            : char.ToLowerInvariant(c).ToString()));

    /// <summary>The member a name given on the command line stands for (already checked by the option).</summary>
    public static T Parse<T>(string name) where T : struct, Enum =>
        Enum.GetValues<T>().Single(v => Name(v) == name);

    /// <summary>Every member's name, in declaration order.</summary>
    private static string[] Names<T>() where T : struct, Enum => Enum.GetValues<T>().Select(v => Name(v)).ToArray();

    /// <summary>An option that takes the members of <typeparamref name="T"/> by <see cref="Name{T}"/>, with a
    /// default; read it with <see cref="Parse{T}"/>.</summary>
    public static Option<string> Of<T>(string name, string description, T defaultValue) where T : struct, Enum
    {
        var option = new Option<string>(name)
        {
            Description = description, DefaultValueFactory = _ => Name(defaultValue),
        };
        AcceptOnly(option, Names<T>());
        return option;
    }

    /// <summary>The same without a default: null when left out.</summary>
    public static Option<string?> OptionalOf<T>(string name, string description) where T : struct, Enum
    {
        var option = new Option<string?>(name) { Description = description };
        AcceptOnly(option, Names<T>());
        return option;
    }

    /// <summary>A whole-number option that takes only <paramref name="values"/> (<c>--bit-depth 8|16</c>).</summary>
    public static Option<int> OfNumbers(string name, string description, int[] values, int defaultValue)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        string[] names = values.Select(v => v.ToString(CultureInfo.InvariantCulture)).ToArray();
        AcceptOnly(option, names);
        option.CustomParser = result =>
            NumberOptions.TryWhole(NumberOptions.Last(result), out int value) ? value : defaultValue;
        return option;
    }

    /// <summary>
    /// Restricts <paramref name="option"/> to <paramref name="names"/> with the project's one-line message
    /// (<c>--pooling takes max, avg or l2; 'foo' is not one.</c>), not System.CommandLine's tab-separated list.
    /// </summary>
    private static void AcceptOnly(Option option, string[] names)
    {
        string expected = names.Length == 1 ? names[0] : string.Join(", ", names[..^1]) + " or " + names[^1];
        option.HelpName = string.Join("|", names.Order(StringComparer.Ordinal)); // --pooling <avg|l2|max>
        option.CompletionSources.Add(names);
        option.Validators.Add(result =>
        {
            foreach (var token in result.Tokens.Where(t => !names.Contains(t.Value, StringComparer.Ordinal)))
            {
                result.AddError($"{option.Name} takes {expected}; '{token.Value}' is not one.");
                return;
            }
        });
    }
}
