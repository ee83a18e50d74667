#!/usr/bin/env bash
# sass-check.sh: reads the SASS of the fast kernels' inner loops, without a GPU, and fails when one regresses
# against the thresholds below. The SASS comes from the workplace's ptxas check (../shared/ptx/check.sh), which
# assembles every kernel with ptxas and disassembles it with cuobjdump into WORK/sass/ARCH/KERNEL.sass.
#
# Usage, from the project root:
#   bash tools/ptx/sass-check.sh WORK            # WORK: the ptx check's work folder (checks sass/sm_90, sass/sm_80)
#   bash tools/ptx/sass-check.sh --dir SASS_DIR  # one folder of KERNEL.sass files
# .ci/run calls it after the ptxas check. Exit 0 when every kernel meets its thresholds, 1 when one does not,
# 2 when there is no SASS to read (a kernel below that has no .sass file is a failure: it was renamed or lost).
#
# The inner loop of a kernel: of the loops in its SASS (a branch back to an earlier address; the body is the
# target to the branch), the one with the most FFMA + HMMA instructions, the smallest such when several tie.
# Per kernel, in that loop:
#   share        the FFMA (fp32 kernels) or HMMA (TF32 kernels) share of the loop's instructions
#   LDL/STL      local-memory loads and stores (spills, or arrays and addressed locals left in memory): never
#   conversions  in a loop of HMMAs (between one and the next, around the loop): F2F, F2FP, I2F, F2I, FRND, the TF32 rounding
#                ptxas emits for cvt.rna.tf32.f32 (IADD3 x, 0x1000 then LOP3.LUT x & 0xffffe000, each counted)
# Thresholds: the kernels as they are at the last change of this table (ptxas 11.8 and 12.4: the tiled loops are
# 64 FFMA in 78-79 instructions, 0.81-0.82; the TF32 loop 4 HMMA in ~400, with 40 conversions), a little below.
# A kernel that gets better should have its line raised; one that gets worse fails CI.
#   kernel                      unit  min_share  max_conversions
thresholds="
Conv2d.TiledKernel            FFMA  0.75       0
Gram.ForwardTiledKernel       FFMA  0.75       0
Gram.BackwardTiledKernel      FFMA  0.75       0
Conv2d.Tf32Kernel             HMMA  0.009      40
"
# Conv2d.Tf32Kernel is the first TF32 kernel: it rounds every operand inside the loop (the IADD3/LOP3 pairs
# between its HMMAs) and loads scalars; a TF32 kernel that keeps the tensor cores fed must meet 0 conversions.
set -uo pipefail

dirs=()
if [[ ${1:-} == --dir && -n ${2:-} ]]; then
  dirs=("$2")
elif [[ -n ${1:-} && ${1:-} != -* ]]; then
  for arch in sm_90 sm_80; do [[ -d $1/sass/$arch ]] && dirs+=("$1/sass/$arch"); done
else
  sed -n '2,/^# Thresholds/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 2
fi
if [[ ${#dirs[@]} -eq 0 ]]; then
  echo "[sass-check] no SASS under $1/sass (the ptx check writes it when it finds cuobjdump)" >&2
  exit 2
fi

# loop_stats FILE -> "instructions ffma hmma local conversions start end" of the inner loop (empty: no loop)
loop_stats() {
  awk '
    function hex(s,   i, c, v) { v = 0; s = tolower(s); sub(/^0x/, "", s)
      for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c }
      return v }
    /^ +\/\*[0-9a-f]+\*\// {
      match($0, /\/\*[0-9a-f]+\*\//); address = hex(substr($0, RSTART + 2, RLENGTH - 4))
      line = substr($0, RSTART + RLENGTH); sub(/;.*/, "", line); sub(/^ +/, "", line)
      n = split(line, w, " "); op = w[1]; if (op ~ /^@/) op = w[2]
      base = op; sub(/\..*/, "", base)
      count++; addr[count] = address; opc[count] = base; text[count] = line
      if (base == "BRA" && match(line, /0x[0-9a-f]+/)) {
        target = hex(substr(line, RSTART, RLENGTH))
        if (target < address) { loops++; from[loops] = target; to[loops] = address }
      }
    }
    END {
      best = 0
      for (l = 1; l <= loops; l++) {
        ins = 0; mul = 0
        for (i = 1; i <= count; i++) if (addr[i] >= from[l] && addr[i] <= to[l]) {
          ins++; if (opc[i] == "FFMA" || opc[i] == "HMMA") mul++ }
        if (best == 0 || mul > bestmul || (mul == bestmul && ins < bestins)) { best = l; bestmul = mul; bestins = ins }
      }
      if (best == 0) exit
      ins = 0; ffma = 0; hmma = 0; local = 0; conv = 0
      for (i = 1; i <= count; i++) if (addr[i] >= from[best] && addr[i] <= to[best]) {
        ins++
        if (opc[i] == "FFMA") ffma++
        if (opc[i] == "HMMA") hmma++
        if (opc[i] == "LDL" || opc[i] == "STL") local++
      }
      for (i = 1; hmma && i <= count; i++) if (addr[i] >= from[best] && addr[i] <= to[best]) {
        if (opc[i] ~ /^(F2F|F2FP|I2F|F2I|FRND)$/) conv++
        else if (opc[i] == "IADD3" && text[i] ~ /, 0x1000,/) conv++
        else if (opc[i] == "LOP3" && text[i] ~ /0xffffe000/) conv++
      }
      printf "%d %d %d %d %d %x %x\n", ins, ffma, hmma, local, conv, from[best], to[best]
    }' "$1"
}

status=0
printf '%-26s %-6s %-10s %6s %6s %6s %7s %5s %6s  %s\n' kernel arch loop instr FFMA HMMA share LDL/STL conv verdict
for dir in "${dirs[@]}"; do
  arch=$(basename "$dir")
  while read -r kernel unit min_share max_conv; do
    [[ -z $kernel ]] && continue
    file="$dir/$kernel.sass"
    if [[ ! -f $file ]]; then
      printf '%-26s %-6s %s\n' "$kernel" "$arch" "FAILED: no $file"; status=1; continue
    fi
    read -r ins ffma hmma local conv from to <<<"$(loop_stats "$file")"
    if [[ -z ${ins:-} ]]; then
      printf '%-26s %-6s %s\n' "$kernel" "$arch" "FAILED: no loop found in its SASS"; status=1; continue
    fi
    unit_count=$([[ $unit == HMMA ]] && echo "$hmma" || echo "$ffma")
    share=$(awk -v u="$unit_count" -v n="$ins" 'BEGIN {printf "%.3f", n ? u / n : 0}')
    why=()
    awk -v s="$share" -v m="$min_share" 'BEGIN {exit !(s < m)}' && why+=("$unit share $share < $min_share")
    ((local > 0)) && why+=("$local LDL/STL in the loop")
    ((conv > max_conv)) && why+=("$conv conversions between HMMAs > $max_conv")
    verdict=ok
    if ((${#why[@]} > 0)); then verdict="FAILED: $(IFS=';'; echo "${why[*]}")"; status=1; fi
    printf '%-26s %-6s %-10s %6s %6s %6s %7s %5s %6s  %s\n' "$kernel" "$arch" "$from-$to" "$ins" "$ffma" "$hmma" \
      "$share" "$local" "$conv" "$verdict"
  done <<<"$thresholds"
done
exit $status
