#!/usr/bin/env bash
# Publishes ilgpu-style for 64-bit ARM Linux (self-contained: the .NET runtime pack comes from NuGet) and runs
# `ilgpu-style verify --device cpu` under QEMU's user-mode emulation on this x64 machine: the host code's
# 128-bit NEON path (CpuVector), every CPU check, no ARM machine needed. Exits with verify's exit code.
#
#   bash tools/arm64/verify-under-qemu.sh [WORK_DIR] [-- VERIFY_ARGS...]
#
# Needs (Debian 12, as root): apt-get install -y qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross
# libgcc-s1-arm64-cross. The cross packages give QEMU an arm64 C runtime under /usr/aarch64-linux-gnu (no
# multiarch needed). Why the environment below:
#   DOTNET_EnableWriteXorExecute=0         the JIT's double mapping of code pages aborts under QEMU
#   DOTNET_SYSTEM_GLOBALIZATION_INVARIANT  no ICU for arm64 here; every message of ilgpu-style is invariant anyway
# Emulated, the checks take several minutes (the JIT and every kernel run instruction by instruction).
set -euo pipefail
cd "$(dirname "$0")/../.."

work="${1:-$(mktemp -d)}"
shift || true
[[ "${1:-}" == "--" ]] && shift
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
sysroot=/usr/aarch64-linux-gnu
if [[ -z $qemu || ! -e $sysroot/lib/ld-linux-aarch64.so.1 ]]; then
  echo "needs qemu-user-static and an arm64 C runtime in $sysroot:" >&2
  echo "  apt-get install -y qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross" >&2
  exit 2
fi

echo "publishing for linux-arm64 into $work/publish ..."
dotnet publish src/Host -c Release -r linux-arm64 --self-contained -o "$work/publish" -v quiet -nologo

echo "running verify --device cpu under $qemu ..."
export QEMU_LD_PREFIX=$sysroot
export DOTNET_EnableWriteXorExecute=0
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
"$qemu" "$work/publish/ilgpu-style" verify --device cpu "$@"
