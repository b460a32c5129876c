#!/bin/sh
# Quick start, as root on Debian 12: installs the build dependencies,
# builds vigil in this tree, and runs vigild in the foreground on the
# bundled sample feed; alerts appear on the terminal. Ctrl-C drains and
# exits.
set -eu
cd "$(dirname "$0")/.."
./contrib/install-deps.sh
[ -x configure ] || ./autogen.sh
[ -f Makefile ] || ./configure
make -j"$(nproc)"
exec ./daemon/vigild -c etc/vigil-demo.conf
