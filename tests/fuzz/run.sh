#!/bin/sh
# Runs every libFuzzer harness for SECONDS (default 30) from its seeds, in
# a build configured with CC=clang --enable-fuzzing. New inputs go to a
# scratch corpus, not to the seeds. Exit non-zero on the first crash.
set -eu
secs=${1:-30}
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$top}
scratch=$(mktemp -d /tmp/vigil-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"
for h in post verdict config tzif redis tgexport telegram http_body facebook wire; do
	mkdir -p "$scratch/$h"
	echo "fuzz_$h: ${secs}s"
	"$build/tests/fuzz/fuzz_$h" -max_total_time="$secs" -max_len=65536 \
	    -print_final_stats=1 "$scratch/$h" "$top/tests/fuzz/seeds/$h" \
	    2>"$scratch/$h.log" || { tail -n 60 "$scratch/$h.log"; exit 1; }
	grep -E 'stat::number_of_executed_units' "$scratch/$h.log" || true
done
echo "fuzz: ok"
