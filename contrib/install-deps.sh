#!/bin/sh
# Installs what vigil needs on Debian 12, as root: the build dependencies,
# and with --tests also what the test suite runs (python3 for the test
# receivers, clang for the fuzz harnesses, procps for pgrep, rsyslog and
# Alertmanager as real receivers, prometheus for promtool, openssl for the
# webhook test's signature check by shell, systemd for systemd-analyze,
# logrotate and strace to check the unit's files and sandbox, redis-server
# for the redis-streams input, iproute2 for the network namespaces of the
# worker hosts test).
set -eu
tests=no
[ "${1:-}" = "--tests" ] && tests=yes

# Hyperscan is amd64-only in Debian 12; vectorscan provides libhs elsewhere.
case "$(dpkg --print-architecture)" in
amd64) hs=libhyperscan-dev ;;
*) hs=libvectorscan-dev ;;
esac

pkgs="build-essential autoconf automake libtool pkg-config tzdata
libevent-dev libconfig-dev libltdl-dev libnng-dev libcmocka-dev
libjansson-dev libicu-dev $hs libpcre2-dev libssl-dev libsqlite3-dev
libcurl4-openssl-dev libsystemd-dev libhiredis-dev librdkafka-dev libyajl-dev"
[ "$tests" = yes ] && pkgs="$pkgs python3 procps clang libclang-rt-14-dev valgrind
rsyslog prometheus-alertmanager prometheus openssl systemd logrotate strace
redis-server iproute2"

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $pkgs
