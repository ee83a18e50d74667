using IlgpuStyle.Host;

namespace IlgpuStyle.Tests.Host;

/// <summary><c>ptx --sass</c> with and without NVIDIA's tools (the search path is the test's own).</summary>
public sealed class PtxSassTests
{
    [Test]
    public void SassWithoutNvidiasToolsIsOneLineSayingHowToGetThem()
    {
        string empty = Path.Combine(Path.GetTempPath(), $"ilgpu-style-tools-{Guid.NewGuid():N}");
        string folder = Path.Combine(Path.GetTempPath(), $"ilgpu-style-ptx-{Guid.NewGuid():N}");
        Directory.CreateDirectory(empty);
        try
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            int exit = Cli.Guarded(error, () => PtxExport.Run(output, "Conv2d.Tiled", folder, sass: true, empty));
            Assert.That(exit, Is.EqualTo(ExitCodes.Usage));
            Assert.That(error.ToString().TrimEnd(), Does.Not.Contain('\n'));
            Assert.That(error.ToString(), Does.Contain("needs NVIDIA's ptxas and cuobjdump (or nvdisasm)")
                .And.Contain("apt install nvidia-cuda-toolkit").And.Contain("../shared/ptx/check.sh"));
            Assert.That(Directory.Exists(folder), Is.False, "nothing written");
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    /// <summary>With the toolkit the workplace's ptx check fetched (when this machine has one), the SASS of the
    /// tiled convolution: its FFMAs, no local memory.</summary>
    [Test]
    public void SassWithNvidiasToolsWritesTheMachineCode()
    {
        string? bin = new[] { "/tmp/kernels-ptx", "/tmp/ptx-check" }
            .SelectMany(w => Directory.Exists(w) ? Directory.GetDirectories(w, "toolkit-*") : [])
            .Select(t => Path.Combine(t, "bin")).FirstOrDefault(b => File.Exists(Path.Combine(b, "ptxas")));
        if (bin is null) Assert.Ignore("No fetched NVIDIA toolkit on this machine (../shared/ptx/check.sh makes one).");
        string folder = Path.Combine(Path.GetTempPath(), $"ilgpu-style-ptx-{Guid.NewGuid():N}");
        try
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            int exit = Cli.Guarded(error, () => PtxExport.Run(output, "Conv2d.Tiled", folder, sass: true, bin));
            Assert.That(exit, Is.Zero, error.ToString());
            string sass = File.ReadAllText(Path.Combine(folder, "Conv2d.TiledKernel.sass"));
            Assert.That(sass, Does.Contain("FFMA").And.Contain("BAR.SYNC").And.Not.Contain("STL"));
            Assert.That(output.ToString(), Does.Match(@"Conv2d\.TiledKernel\.sass: FFMA \d+, HMMA 0, LDL/STL 0"));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }
}
