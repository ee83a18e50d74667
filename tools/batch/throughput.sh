#!/usr/bin/env bash
# Throughput of `ilgpu-style batch` (issue 26): N images at SIZE px with the fixture weights on the CPU, as one
# batch and as N separate runs. Prints the sum of the N runs' evaluation time (each run's report: every
# iteration's milliseconds, iteration 0 included, --print-every 1), the batch's whole wall time (process start to
# exit), and their ratio (the issue asks for at most 1.1). A separate run's evaluations are slower than a batch's
# (each process starts cold: .NET's JIT, caches), so the batch's wall time is also given against the batch's own
# evaluation time (each row's report), the stricter figure. The batch's outputs are checked equal to the runs'.
# Usage: tools/batch/throughput.sh HOST_DLL [N=20] [SIZE=128] [ITERATIONS=50]
# Environment: WEIGHTS (default /work/base/w_zip.safetensors), SHARED (default ../shared). Measure on a quiet
# machine: the load average is printed before and after.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DLL=$(realpath "$1"); N=${2:-20}; SIZE=${3:-128}; ITERATIONS=${4:-50}
SHARED=${SHARED:-$REPO/../shared}
WEIGHTS=${WEIGHTS:-/work/base/w_zip.safetensors}
S=$(realpath "$SHARED/images")
T=$(mktemp -d /tmp/ilgpu-throughput.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/batch" "$T/single"
images=(tubingen.jpg shipwreck.jpg the_scream.jpg starry_night_crop.png starry_night.jpg)
echo "content,style,output,options" > "$T/manifest.csv"
for ((i = 0; i < N; i++)); do
  echo "$S/${images[i % 5]},$S/starry_night.jpg,$i.png,--seed $i --report $T/batch/$i.json" >> "$T/manifest.csv"
done
OPTIONS=(--weights "$WEIGHTS" --device cpu --size "$SIZE" --iterations "$ITERATIONS" --print-every 1)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
single_wall=0
for ((i = 0; i < N; i++)); do
  start=$(now)
  dotnet "$DLL" --content "$S/${images[i % 5]}" --style "$S/starry_night.jpg" --seed "$i" "${OPTIONS[@]}" \
    --output "$T/single/$i.png" --report "$T/single/$i.json" > /dev/null
  single_wall=$(echo "$single_wall + $(now) - $start" | bc)
done
sum_ms() { cat "$@" | python3 -c '
import json, sys
text = sys.stdin.read()
decoder, at, total = json.JSONDecoder(), 0, 0.0
while at < len(text.rstrip()):
    report, at = decoder.raw_decode(text, at)
    while at < len(text) and text[at].isspace(): at += 1
    total += sum(r["ms"] for r in report["iterations"])
print(total / 1000)'; }
evaluation=$(sum_ms "$T"/single/*.json)

start=$(now)
dotnet "$DLL" batch --manifest "$T/manifest.csv" --output-dir "$T/batch" "${OPTIONS[@]}" > "$T/batch.log"
batch_wall=$(echo "$(now) - $start" | bc)
tail -1 "$T/batch.log"
own=$(sum_ms "$T"/batch/*.json)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 0; i < N; i++)); do cmp -s "$T/single/$i.png" "$T/batch/$i.png" || { echo "FAIL: $i.png differs"; exit 1; }; done
printf '%d images at %d px, %d iterations: %d separate runs %.2f s wall, of which evaluation %.2f s;\n' \
  "$N" "$SIZE" "$ITERATIONS" "$N" "$single_wall" "$evaluation"
printf 'one batch %.2f s wall = %.3f x the evaluation time (outputs identical)\n' \
  "$batch_wall" "$(echo "$batch_wall / $evaluation" | bc -l)"
printf 'the batch'"'"'s own evaluation time %.2f s: its wall time is %.3f x that\n' "$own" \
  "$(echo "$batch_wall / $own" | bc -l)"
