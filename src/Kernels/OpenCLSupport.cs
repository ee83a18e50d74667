using System.Runtime.InteropServices;
using System.Runtime.Loader;
using ILGPU.Runtime;
using ILGPU.Backends.OpenCL;
using ILGPU.Runtime.OpenCL;

namespace IlgpuStyle.Kernels;

/// <summary>Whether an OpenCL device can run ILGPU's kernels, and if not, why.</summary>
/// <param name="Usable">It meets ILGPU's requirements, so the context offers it.</param>
/// <param name="Reason">One phrase: what the device offers and what ILGPU needs.</param>
public readonly record struct OpenCLVerdict(bool Usable, string Reason);

/// <summary>
/// Which OpenCL devices ILGPU can use. ILGPU's OpenCL backend writes OpenCL C 2.0 with unqualified
/// (generic address space) pointers, so it needs an OpenCL 2.x device, or an OpenCL 3.0 device that
/// supports the optional generic address space; ILGPU leaves every other device out of its context
/// without a word. This class states that rule once: the context is built with it
/// (<see cref="Devices.CreateContext"/>), and <c>devices</c>, <c>verify</c> and <c>--device opencl</c> use
/// it to say why a device the driver reports is not offered.
/// </summary>
public static class OpenCLSupport
{
    /// <summary>The requirement in words, for messages.</summary>
    public const string Requirement = "ILGPU needs OpenCL 2.0, or OpenCL 3.0 with generic address space";

    /// <summary>
    /// Whether ILGPU can use the device: the filter the project's context applies, the same rule as
    /// ILGPU 1.5.3's default (<c>Context.Builder.OpenCL()</c>: the OpenCL C version it would compile with
    /// is at least 2.0, and generic address space is supported).
    /// </summary>
    /// <param name="device">A device the OpenCL driver reports.</param>
    public static bool MeetsIlgpuRequirements(CLDevice device) => Judge(device).Usable;

    /// <summary>The verdict on a device the OpenCL driver reports.</summary>
    /// <param name="device">The device.</param>
    public static OpenCLVerdict Judge(CLDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return Judge(device.DeviceVersion, NewestCVersion(device), device.Capabilities.GenericAddressSpace,
            device.Vendor);
    }

    /// <summary>CL_DEVICE_OPENCL_C_ALL_VERSIONS (OpenCL 3.0): every OpenCL C version the device compiles.</summary>
    private const CLDeviceInfoType AllCVersions = (CLDeviceInfoType)0x1066;

    /// <summary>
    /// The newest OpenCL C version the device lists, as it describes itself (clinfo's "OpenCL C all
    /// versions"). An OpenCL 3.0 device lists every version it compiles in CL_DEVICE_OPENCL_C_ALL_VERSIONS;
    /// its CL_DEVICE_OPENCL_C_VERSION, which ILGPU's <see cref="CLDevice.CVersion"/> reads, names only the
    /// newest version that is fully backwards compatible, and OpenCL C 3.0 is not (2.0's features became
    /// optional): PoCL 6 says "OpenCL C 1.2" there and lists 1.0 to 3.0. ILGPU compiles for such a device with
    /// <c>-cl-std=CL3.0</c>. Older devices have only CL_DEVICE_OPENCL_C_VERSION.
    /// </summary>
    /// <param name="device">A device the OpenCL driver reports.</param>
    public static CLCVersion NewestCVersion(CLDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device.DeviceVersion < CLDeviceVersion.CL30) return device.CVersion;
        var listed = new NameVersion[64];
        try
        {
            CLAPI.CurrentAPI.GetDeviceInfo(device.DeviceId, AllCVersions, listed);
        }
        catch (CLException)
        {
            return device.CVersion; // a driver that claims 3.0 but does not answer the 3.0 query
        }
        return listed.Where(v => v.Version != 0)
            .Select(v => new CLCVersion(v.Major, v.Minor))
            .Append(device.CVersion)
            .MaxBy(v => (v.Major, v.Minor));
    }

    /// <summary>
    /// cl_name_version: a version packed as major (10 bits), minor (10), patch (12), then a 64-byte name,
    /// which is "OpenCL C" for every entry of <see cref="AllCVersions"/> and not read here.
    /// </summary>
    [StructLayout(LayoutKind.Sequential, Size = 4 + 64)]
    private readonly struct NameVersion
    {
        public readonly uint Version;

        public int Major => (int)(Version >> 22);

        public int Minor => (int)((Version >> 12) & 0x3FF);
    }

    /// <summary>
    /// The verdict from a device's reported facts. ILGPU compiles with OpenCL C 3.0 on an OpenCL 3.0
    /// device, 2.0 on a 2.x device, and the device's own (older) OpenCL C version on an older one; it
    /// assumes generic address space on 2.x, and reads the device's answer on 3.0.
    /// </summary>
    /// <param name="deviceVersion">CL_DEVICE_VERSION.</param>
    /// <param name="cVersion">The newest OpenCL C version the device lists (<see cref="NewestCVersion"/>).</param>
    /// <param name="genericAddressSpace">Generic address space support (implied by 2.x, optional in 3.0).</param>
    /// <param name="vendor">ILGPU's reading of the vendor.</param>
    public static OpenCLVerdict Judge(CLDeviceVersion deviceVersion, CLCVersion cVersion, bool genericAddressSpace,
        CLDeviceVendor vendor)
    {
        string offers = $"OpenCL {deviceVersion} (OpenCL C {cVersion.Major}.{cVersion.Minor})";
        // What a refused device's owner can do: NVIDIA's OpenCL lacks generic address space, and ILGPU runs
        // those GPUs through CUDA instead; AMD's and Intel's current GPU drivers offer it.
        string instead = vendor switch
        {
            CLDeviceVendor.Nvidia => "; NVIDIA GPUs run through CUDA",
            CLDeviceVendor.AMD => "; AMD's ROCm driver offers it",
            CLDeviceVendor.Intel => "; Intel's compute runtime offers it",
            _ => "",
        };
        if (deviceVersion < CLDeviceVersion.CL20)
            return new(false, $"{offers}: {Requirement}{instead}");
        if (!genericAddressSpace)
            return new(false, $"{offers} without generic address space: {Requirement}{instead}");
        return new(true, $"{offers} with generic address space: meets ILGPU's requirements");
    }

    /// <summary>
    /// Every OpenCL device the installed drivers report, whether ILGPU can use it or not (empty without
    /// an OpenCL driver).
    /// </summary>
    public static IReadOnlyList<CLDevice> ReportedDevices()
    {
        FindTheIcdLoader();
        return [.. CLDevice.GetDevices(_ => true).Cast<CLDevice>()];
    }

    private static int _loaderFallback; // 1 once the fallback below is registered

    /// <summary>
    /// Lets ILGPU find the OpenCL ICD loader where only <c>libOpenCL.so.1</c> is installed. ILGPU imports
    /// the library "OpenCL", which .NET looks up as <c>libOpenCL.so</c>; but Debian's and Ubuntu's loader
    /// package (ocl-icd-libopencl1, which their GPU drivers' OpenCL packages pull in) installs only the
    /// versioned name, and the unversioned one comes with the -dev package. Without this, ILGPU sees no
    /// OpenCL device on such a machine. A fallback, asked only when .NET's own lookup fails; it must be
    /// registered before ILGPU first calls OpenCL, which remembers a failed lookup for the process.
    /// </summary>
    public static void FindTheIcdLoader()
    {
        if (!OperatingSystem.IsLinux() || Interlocked.Exchange(ref _loaderFallback, 1) == 1) return;
        var ilgpu = typeof(CLDevice).Assembly;
        AssemblyLoadContext.Default.ResolvingUnmanagedDll += (assembly, name) =>
            assembly == ilgpu && name == "OpenCL" && NativeLibrary.TryLoad("libOpenCL.so.1", out var handle)
                ? handle
                : IntPtr.Zero;
    }

    /// <summary>One line per reported OpenCL device: its name, and the verdict on it.</summary>
    public static IEnumerable<string> Describe(IEnumerable<CLDevice> devices) =>
        devices.Select(d => $"OpenCL '{d.Name.Trim()}' ({d.PlatformName.Trim()}): {(Judge(d) is var v && v.Usable
            ? v.Reason
            : "not offered, " + v.Reason)}");
}
