#!/usr/bin/env bash
# A batch whose output disk fills mid-way, for real (issue 26, "Bad input"): as root, mounts a 100 KiB tmpfs, puts
# an earlier output there, and runs a batch of 6 images into it. Checks: the images that no longer fit fail with
# one error line each naming the row, the batch goes on and exits 1, the earlier output and every image written
# before the disk filled are intact (their hashes), and no temporary file is left.
# Usage: tools/batch/disk-full.sh HOST_DLL   (WEIGHTS, SHARED as in tools/slurm/test-array.sh)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DLL=$(realpath "$1")
SHARED=${SHARED:-$REPO/../shared}
WEIGHTS=${WEIGHTS:-/work/base/w_zip.safetensors}
[[ $EUID -eq 0 ]] || { echo "disk-full.sh: run as root (it mounts a tmpfs)"; exit 2; }
S=$(realpath "$SHARED/images")
T=$(mktemp -d /tmp/ilgpu-diskfull.XXXXXX)
mkdir "$T/disk"
mount -t tmpfs -o size=100k tmpfs "$T/disk"
trap 'umount "$T/disk"; rm -rf "$T"' EXIT
head -c 30000 /dev/urandom > "$T/disk/earlier.png"
echo "content,style,output,options" > "$T/manifest.csv"
for f in tubingen.jpg shipwreck.jpg the_scream.jpg starry_night_crop.png starry_night.jpg; do
  echo "$S/$f,$S/starry_night.jpg,${f%.*}.png," >> "$T/manifest.csv"
done
echo "$S/tubingen.jpg,$S/starry_night.jpg,earlier.png," >> "$T/manifest.csv"
before=$(sha256sum "$T/disk/earlier.png")
set +e
dotnet "$DLL" batch --manifest "$T/manifest.csv" --output-dir "$T/disk" --weights "$WEIGHTS" --device cpu \
  --size 96 --iterations 3 > "$T/out.log" 2> "$T/err.log"
code=$?
set -e
cat "$T/out.log"; echo "--- stderr"; cat "$T/err.log"; echo "--- exit $code"; df -k "$T/disk" | tail -1
ls -la "$T/disk"
status=0
[[ $code -eq 1 ]] || { echo "FAIL: exit $code, not 1"; status=1; }
[[ $(sha256sum "$T/disk/earlier.png") == "$before" ]] || { echo "FAIL: the earlier output changed"; status=1; }
failed=$(grep -c '^error: row ' "$T/err.log" || true)
(( failed >= 1 )) || { echo "FAIL: no image failed: the disk did not fill"; status=1; }
[[ $(grep -c 'No space left on device' "$T/err.log") -eq $failed ]] || { echo "FAIL: another error"; status=1; }
ls -A "$T/disk" | grep -q '\.tmp$' && { echo "FAIL: a temporary file is left"; status=1; }
for f in "$T"/disk/*.png; do
  [[ $f == */earlier.png ]] && continue
  dotnet "$DLL" --content "$f" --style "$f" --size 64 --iterations 0 --dry-run --weights "$WEIGHTS" > /dev/null \
    || { echo "FAIL: $f does not decode"; status=1; }
done
(( status == 0 )) && echo "PASS: $failed images failed on the full disk, the others and the earlier output intact"
exit $status
