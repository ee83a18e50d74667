using IlgpuStyle.Network.Weights;
using IlgpuStyle.Weights.Files;

namespace IlgpuStyle.Weights;

/// <summary>What a conversion wrote.</summary>
/// <param name="OutputPath">The safetensors file.</param>
/// <param name="Weights">The layers as written (already validated as a VGG conv chain).</param>
/// <param name="FileBytes">Size of the output file.</param>
public sealed record ConversionResult(string OutputPath, VggWeights Weights, long FileBytes);

/// <summary>
/// Converts a .pth or .caffemodel into the project's safetensors format (SPEC.md, "Weights file"):
/// tensors <c>conv{b}_{i}.weight|bias</c> as F32, <c>__metadata__</c> with <c>arch</c> and <c>preprocess</c>.
/// </summary>
public static class WeightConverter
{
    /// <summary>
    /// Reads <paramref name="inputPath"/>, maps its conv layers, and writes <paramref name="outputPath"/>
    /// atomically (nothing is written unless every step succeeds). <paramref name="arch"/> and
    /// <paramref name="preprocess"/> override what is inferred (null: infer; preprocess defaults to
    /// <c>torchvision</c> for .pth and <c>caffe</c> for .caffemodel). Progress and the table of
    /// written tensors go to <paramref name="log"/>. Throws <see cref="ConverterException"/>.
    /// </summary>
    public static ConversionResult Convert(string inputPath, string outputPath, VggArchitecture? arch = null,
        string? preprocess = null, TextWriter? log = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(inputPath);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        log ??= TextWriter.Null;
        if (preprocess != null && !VggWeights.PreprocessNames.Contains(preprocess))
            throw new ConverterException($"unknown preprocess '{preprocess}' (expected torchvision or caffe)");
        // Before anything is read: the output may not be the input, under any spelling (OutputPathException).
        OutputFiles.Check([("output file", outputPath)], [("input file", inputPath)]);

        var source = WeightSources.Open(inputPath);
        log.WriteLine($"{inputPath}: {source.Format}, {source.Tensors.Count} tensors");

        var (mapping, tensors) = WeightSources.Guard(inputPath, () =>
        {
            // Truncation is checked before layer naming: a cut-off file should say so, not
            // complain about whatever its surviving tensor list happens to lack.
            source.CheckDataPresent();
            var mapped = LayerMapping.Map(source, arch, preprocess != null);
            var read = new List<NamedTensor>();
            foreach (var layer in mapped.Layers)
            {
                read.Add(new NamedTensor(layer.Name + ".weight", layer.Weight.Shape, layer.Weight.ReadData()));
                read.Add(new NamedTensor(layer.Name + ".bias", layer.Bias.Shape, layer.Bias.ReadData()));
            }
            return (mapped, read);
        });
        if (mapping.Note.Length > 0)
            log.WriteLine($"note: {mapping.Note}");

        var metadata = new Dictionary<string, string>
        {
            ["arch"] = mapping.Architecture.Name,
            ["preprocess"] = preprocess ?? (source.Kind == SourceKind.Caffe ? "caffe" : "torchvision"),
            ["source"] = Path.GetFileName(inputPath),
        };

        VggWeights weights;
        try
        {
            // The same checks the network's loader applies, so the converter cannot write a file
            // the loader would refuse.
            weights = VggWeights.FromTensors(tensors, metadata, inputPath);
        }
        catch (WeightsFormatException e)
        {
            throw new ConverterException(e.Message, e);
        }

        try
        {
            SafetensorsFile.Write(FileIdentity.OutputPath(outputPath), tensors, metadata);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConverterException($"{outputPath}: cannot write: {WeightSources.OneLine(e.Message)}", e);
        }

        long bytes = new FileInfo(outputPath).Length;
        WriteTable(log, tensors);
        log.WriteLine($"wrote {outputPath}: {mapping.Architecture.Name}, preprocess {metadata["preprocess"]}, " +
                      $"{tensors.Count} tensors, {bytes:N0} bytes");
        return new ConversionResult(outputPath, weights, bytes);
    }

    /// <summary>Prints the source's tensors (key, dtype, shape) without converting; used by <c>--list</c>.</summary>
    public static void List(string inputPath, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(log);
        var source = WeightSources.Open(inputPath);
        log.WriteLine($"{inputPath}: {source.Format}, {source.Tensors.Count} tensors");
        int width = Math.Max(4, source.Tensors.Select(t => t.Key.Length).DefaultIfEmpty(0).Max());
        foreach (var t in source.Tensors)
            log.WriteLine($"  {t.Key.PadRight(width)}  {t.Dtype,-12}  {NamedTensor.FormatShape(t.Shape)}");
    }

    private static void WriteTable(TextWriter log, List<NamedTensor> tensors)
    {
        int width = tensors.Max(t => t.Name.Length);
        log.WriteLine($"  {"name".PadRight(width)}  shape");
        foreach (var t in tensors)
            log.WriteLine($"  {t.Name.PadRight(width)}  {NamedTensor.FormatShape(t.Shape)}");
    }
}
