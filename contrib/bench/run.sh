#!/bin/sh
# run.sh - what `make bench` runs: vigil-bench on the built tree, in a
# fresh directory under /tmp (short, for the daemon's unix sockets) that
# is removed afterwards. It builds nothing; make has done that.
#
#   run.sh ABS_TOP_BUILDDIR ABS_TOP_SRCDIR [vigil-bench options...]
#
# Options for vigil-bench come after the two directories, or from the
# environment: VIGIL_BENCH_ARGS="-n 200000 -r 5000" make bench
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 ABS_TOP_BUILDDIR ABS_TOP_SRCDIR [vigil-bench options...]" >&2
	exit 2
fi
builddir=$1
shift 2
bench="$builddir/contrib/bench/vigil-bench"
if [ ! -x "$bench" ]; then
	echo "run.sh: $bench is not built: make contrib/bench/vigil-bench" >&2
	exit 1
fi

dir=$(mktemp -d /tmp/vb.XXXXXX)
trap 'rm -rf "$dir"' EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086 # VIGIL_BENCH_ARGS is a list of words
"$bench" --builddir "$builddir" --dir "$dir" ${VIGIL_BENCH_ARGS:-} "$@"
