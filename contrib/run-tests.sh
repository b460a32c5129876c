#!/bin/sh
# Installs what the tests need, builds this tree and runs the whole suite
# (make check). With SANITIZE=1 the build uses AddressSanitizer and
# UndefinedBehaviorSanitizer. Extra configure flags: CONFIGURE_FLAGS.
set -eu
cd "$(dirname "$0")/.."
./contrib/install-deps.sh --tests
./autogen.sh
flags="${CONFIGURE_FLAGS:-}"
if [ "${SANITIZE:-0}" = 1 ]; then
	flags="$flags --enable-sanitizers"
	# Leaks are errors; the suite runs the real daemon and workers.
	export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
fi
# shellcheck disable=SC2086
./configure $flags
make clean >/dev/null
make -j"$(nproc)"
make -j"$(nproc)" check
