#!/usr/bin/env bash
# What the report costs on top of a run: `nkflow run` of the preset on a
# simulated cohort (default 200 files × 50,000 events), without and with
# --report, alternating, each timed for wall and CPU (user + sys) seconds.
#
#   cargo build --release && benches/report_cost.sh [N_FILES] [EVENTS] [REPEATS]
#
# The cohort is simulated once into target/report-cost/cohort-N-E (outside
# git). CPU time is the steadier figure on a shared machine; wall time is
# what a user waits for. Prints one line per run and the medians.
#
# Measured 2026-11-25 (nk-day30 preset incl. FlowSOM, 2 shared cores, load ~3.5):
#   wall: run 10.2 s, run --report 13.2 s (+29%); CPU: 10.2 s vs 14.4 s (+41%),
#   i.e. ~21 ms of CPU per sample for ~17 plots, its page and its PNGs.
#   Under load ~8 the CPU share measured +38…58%.
set -euo pipefail
N=${1:-200}
EVENTS=${2:-50000}
REPEATS=${3:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/release/nkflow"
WORK="$ROOT/target/report-cost"
COHORT="$WORK/cohort-$N-$EVENTS"
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
if [ ! -f "$COHORT/samplesheet.csv" ]; then
  mkdir -p "$COHORT"
  "$BIN" simulate -o "$COHORT" --samples "$N" --events "$EVENTS" --seed 7 --force >&2
fi
one() { # $1 = label, rest = extra args; prints "label wall cpu"
  local label=$1; shift
  rm -rf "$WORK/out"
  local t0 t1 c0 c1
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$WORK/cpu" "$BIN" run "$ROOT/pipelines/nk-day30.json" "$COHORT" \
    --samplesheet "$COHORT/samplesheet.csv" -o "$WORK/out" "$@" 2>/dev/null
  t1=$(date +%s.%N)
  read -r u s < "$WORK/cpu"
  echo "$label $(echo "$t1 - $t0" | bc) $(echo "$u + $s" | bc)"
}
results=()
for _ in $(seq "$REPEATS"); do
  results+=("$(one plain)")
  results+=("$(one report --report)")
done
printf '%s\n' "${results[@]}"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for col in 2 3; do
  name=$([ $col = 2 ] && echo wall || echo cpu)
  p=$(printf '%s\n' "${results[@]}" | awk -v c=$col '$1=="plain"{print $c}' | median)
  r=$(printf '%s\n' "${results[@]}" | awk -v c=$col '$1=="report"{print $c}' | median)
  echo "$name: run $p s, run --report $r s, report +$(echo "scale=1; 100*($r-$p)/$p" | bc)% ($N files × $EVENTS events, $(nproc) cores)"
done
