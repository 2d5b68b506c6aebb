#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for SECS seconds each, JOBS at a time, on
# the committed corpora (fuzz/corpus/TARGET/, which grow with what the fuzzer finds), then
# prints per target: executions, coverage (cov), features (ft) and crashes.
#   bash scripts/fuzz.sh [SECS=60] [JOBS=2]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). A crash leaves its
# input in fuzz/artifacts/TARGET/: fix it, then copy the input into fuzz/corpus/TARGET/ so that
# tests/meta/fuzz_corpora.rs replays it in every test run.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
jobs=${2:-2}
mkdir -p logs
cargo +nightly fuzz build >/dev/null
targets=$(ls fuzz_targets | sed 's/\.rs$//')
run() {
  t=$1
  mkdir -p "corpus/$t"
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 >"logs/$t.log" 2>&1 || echo "$t: CRASH (see fuzz/logs/$t.log, fuzz/artifacts/$t/)"
}
export -f run
export secs
printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'run {}'
printf '%-14s %12s %8s %8s %s\n' target execs cov ft crashes
for t in $targets; do
  execs=$(grep -a -o 'stat::number_of_executed_units: [0-9]*' "logs/$t.log" | awk '{print $2}' | tail -1 || true)
  last=$(grep -a -E '^#[0-9]+[[:space:]].*cov: ' "logs/$t.log" | tail -1 || true)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}' || true)
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}' || true)
  crashes=$(ls "artifacts/$t" 2>/dev/null | wc -l)
  printf '%-14s %12s %8s %8s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
done
