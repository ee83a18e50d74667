using System.CommandLine;

namespace IlgpuStyle.Host;

/// <summary>
/// Options whose values are names (of files, of layers), refused while parsing when they name nothing: an empty
/// value is what an unset shell variable gives (<c>--content "$PHOTO"</c>), and would otherwise reach the file
/// system as an empty path or run a loss over no layer at all.
/// </summary>
internal static class TextOptions
{
    /// <summary><paramref name="option"/> refuses a value that is empty or white space.</summary>
    public static void RefuseEmpty(Option option, string takes = "a file name")
    {
        option.Validators.Add(result =>
        {
            foreach (var token in result.Tokens.Where(t => string.IsNullOrWhiteSpace(t.Value)))
            {
                result.AddError($"{option.Name} takes {takes}, and '{token.Value}' is empty (is a shell variable " +
                                "not set?).");
                return;
            }
        });
    }

    /// <summary><paramref name="option"/>, a comma-separated list, refuses a value that names nothing (empty, white
    /// space or only commas); <paramref name="instead"/> says what to do for none.</summary>
    public static void RefuseNone(Option option, string takes, string instead = "")
    {
        option.Validators.Add(result =>
        {
            foreach (var token in result.Tokens.Where(t => t.Value.Split(',').All(string.IsNullOrWhiteSpace)))
            {
                result.AddError($"{option.Name} takes {takes}, and '{token.Value}' names none{instead}.");
                return;
            }
        });
    }
}
