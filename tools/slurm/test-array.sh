#!/usr/bin/env bash
# A real Slurm job array over `ilgpu-style batch` (issue 26), on this one machine, as root:
#   1. installs Debian's slurm-wlm and munge if missing, starts munged, slurmctld and slurmd on localhost with
#      their state, spool and logs under a temporary folder (ports 16817/16818, nothing under /etc touched);
#   2. submits a 3-task `sbatch --array=0-2` over 6 images of ../shared/images with the fixture weights;
#   3. cancels one task while it renders its second image (scancel: SIGTERM, as a scheduler's kill or preemption);
#   4. resubmits that one task alone (`--array=N`, shard count kept with ILGPU_STYLE_SHARD_COUNT=3);
#   5. checks that every output exists exactly once, no temporary file is left, and each output equals, byte for
#      byte, a single-process batch run of the same manifest.
# Usage (from the repository root, as root):
#   dotnet build -c Release src/Host && tools/slurm/test-array.sh [HOST_DLL]
# Environment: WEIGHTS (default: /work/base/w_zip.safetensors if present, else ../shared's vgg19_div16.zip.pth
# converted), SHARED (default ../shared), KEEP=1 keeps the temporary folder and leaves the daemons running.
# Exit codes: 0 passed, 1 failed, 2 cannot run here (not root, no dll), 3 no cluster (the packages would not
# install, or it did not start within a minute): CI says so in one line and goes on (.ci/slurm).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$REPO/../shared}
DLL=${1:-$REPO/src/Host/bin/Release/net10.0/ilgpu-style.dll}
[[ $EUID -eq 0 ]] || { echo "test-array.sh: run as root (it starts munged, slurmctld, slurmd)"; exit 2; }
[[ -f $DLL ]] || { echo "test-array.sh: no $DLL; build src/Host first or give the dll"; exit 2; }
DLL=$(realpath "$DLL")
T=$(mktemp -d /tmp/ilgpu-slurm.XXXXXX)
chmod 755 "$T"
step() { echo "== $(date -u +%H:%M:%S) $*"; }

if ! command -v sbatch > /dev/null || ! command -v munged > /dev/null; then
  step "installing slurm-wlm and munge"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge > "$T/apt.log" 2>&1; then
    echo "NO CLUSTER: apt-get install slurm-wlm munge failed:"; tail -3 "$T/apt.log"; exit 3
  fi
fi

WEIGHTS=${WEIGHTS:-/work/base/w_zip.safetensors}
if [[ ! -f $WEIGHTS ]]; then
  step "converting the fixture weights"
  WEIGHTS=$T/weights.safetensors
  dotnet run --project "$REPO/tools/Converter" -c Release -- "$SHARED/fixtures/weights/vgg19_div16.zip.pth" "$WEIGHTS"
fi

cleanup() {
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $T (daemons still running)"; return; fi
  for p in slurmd slurmctld; do [[ -f $T/$p.pid ]] && kill "$(cat "$T/$p.pid")" 2> /dev/null || true; done
  [[ -f $T/munged.pid ]] && kill "$(cat "$T/munged.pid")" 2> /dev/null || true
  sleep 1
  rm -rf "$T"
}
trap cleanup EXIT

step "starting munged"
mkdir -p "$T/munge" && chmod 700 "$T/munge"
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none && chmod 400 "$T/munge/munge.key"
munged --force --key-file "$T/munge/munge.key" --socket "$T/munge/munge.socket" \
  --pid-file "$T/munged.pid" --log-file "$T/munge/munged.log" --seed-file "$T/munge/munged.seed"

step "starting slurmctld and slurmd"
HOST=$(hostname -s)
mkdir -p "$T/state" "$T/spool" "$T/log" "$T/out" "$T/single"
cat > "$T/slurm.conf" <<CONF
ClusterName=ilgpustyle
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ReturnToService=2
KillWait=30
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$T/slurm.conf
slurmctld -c
slurmd
started=$(date +%s)
until sinfo -h -o %t 2> /dev/null | grep -qE '^(idle|mix|alloc)'; do
  if (( $(date +%s) - started > 60 )); then
    echo "NO CLUSTER: it did not start within a minute"; tail -5 "$T/log/"*.log; exit 3
  fi
  sleep 1
done
step "cluster up in $(( $(date +%s) - started )) s: $(sinfo -h -o '%P %t %D %c')"

# Six images: the shared photographs and paintings, one of them twice with another style. Paths are absolute:
# nothing is copied into the repository or the temporary folder.
S=$(realpath "$SHARED/images")
cat > "$T/manifest.csv" <<CSV
content,style,output,options
$S/tubingen.jpg,$S/starry_night.jpg,tubingen-starry.png,
$S/shipwreck.jpg,$S/starry_night.jpg,shipwreck.png,
$S/the_scream.jpg,$S/starry_night.jpg,scream.png,
$S/starry_night_crop.png,$S/the_scream.jpg,crop.png,--seed 4 --init random
$S/starry_night.jpg,$S/the_scream.jpg,starry.png,
$S/tubingen.jpg,$S/the_scream.jpg,tubingen-scream.png,--iterations 60
CSV
OPTIONS=(--weights "$WEIGHTS" --device cpu --size 96 --iterations 100 --threads 1)
cat > "$T/job.sh" <<JOB
#!/bin/bash
#SBATCH --job-name=ilgpu-style
#SBATCH --cpus-per-task=1
#SBATCH --output=$T/log/task-%A_%a.out
exec dotnet "$DLL" batch --manifest "$T/manifest.csv" --output-dir "$T/out" ${OPTIONS[*]}
JOB

step "submitting the array of 3 tasks"
job=$(sbatch --parsable --array=0-2 "$T/job.sh")
echo "job $job"
victim=1
# Cancel task 1 as soon as it has written its first image: its second is then being rendered.
until grep -qs "^\[1/2\]" "$T/log/task-${job}_${victim}.out"; do sleep 0.1; done
step "cancelling task $victim (scancel: SIGTERM)"
scancel "${job}_${victim}"
while squeue -h -j "$job" 2> /dev/null | grep -q .; do sleep 1; done
for k in 0 1 2; do echo "--- task $k"; cat "$T/log/task-${job}_$k.out"; done
shard_outputs() { awk -F, -v k="$1" 'NR > 1 && (NR - 2) % 3 == k { print $3 }' "$T/manifest.csv"; }
missing=0
for f in $(shard_outputs $victim); do [[ -f $T/out/$f ]] || missing=$((missing + 1)); done
if (( missing == 0 )); then echo "FAIL: task $victim finished before it was cancelled; nothing was tested"; exit 1; fi
echo "after the cancel: $(ls "$T/out" | wc -l) outputs, $missing of task $victim's missing"
if ! grep -q "stopped by SIGTERM" "$T/log/task-${job}_${victim}.out"; then
  echo "FAIL: task $victim did not stop gracefully (no summary after SIGTERM)"; exit 1
fi

step "resubmitting task $victim alone"
job2=$(ILGPU_STYLE_SHARD_COUNT=3 sbatch --parsable --export=ALL --array=$victim "$T/job.sh")
while squeue -h -j "$job2" 2> /dev/null | grep -q .; do sleep 1; done
echo "--- task $victim again"; cat "$T/log/task-${job2}_${victim}.out"

step "one process, the same manifest"
dotnet "$DLL" batch --manifest "$T/manifest.csv" --output-dir "$T/single" "${OPTIONS[@]}"

step "checking"
status=0
expected=$(awk -F, 'NR > 1 { print $3 }' "$T/manifest.csv" | sort)
actual=$(cd "$T/out" && ls -A | sort)
if [[ $expected != "$actual" ]]; then
  echo "FAIL: the outputs are not the manifest's, once each:"; diff <(echo "$expected") <(echo "$actual") || true
  status=1
fi
for f in $expected; do
  if cmp -s "$T/out/$f" "$T/single/$f"; then echo "same: $f ($(sha256sum < "$T/out/$f" | cut -c1-16))"
  else echo "FAIL: $f differs from the single-process run"; status=1; fi
done
(( status == 0 )) && echo "PASS: 6 outputs, each once, each equal to the single-process batch"
exit $status
