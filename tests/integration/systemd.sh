#!/bin/sh
# vigild as a systemd service, without a running systemd.
#  1. `make install` into a staging tree: `systemd-analyze verify` accepts
#     the installed unit without a word, its sandbox keeps an exposure
#     below 2.0, and (as root) systemd-sysusers and systemd-tmpfiles make
#     the vigil user and its directories in the staged root.
#  2. vigild under NOTIFY_SOCKET and WATCHDOG_USEC, the socket read here:
#     READY=1 once running, STATUS= lines, WATCHDOG=1 at half the
#     interval, RELOADING=1 with MONOTONIC_USEC then READY=1 around a
#     reload, a refused reload and the SIGHUP of the logrotate file, and
#     STOPPING=1 on SIGTERM; all from vigild's pid (NotifyAccess=main).
#  3. Meanwhile vigild and its workers run under PR_SET_MDWE (what
#     MemoryDenyWriteExecute= enforces) where the kernel has it, and under
#     strace where it works: every system call must pass the unit's
#     SystemCallFilter=, every socket its RestrictAddressFamilies=, no
#     mapping may become executable, and /proc is read for the process's
#     own entries only (ProcSubset=pid).
# Skipped (77) without systemd-analyze (Debian package systemd).
. "$(dirname "$0")/lib.sh"

ANALYZE=$(command -v systemd-analyze || true)
if [ -z "$ANALYZE" ]; then
	echo "SKIP: systemd-analyze is not installed (Debian package systemd)"
	exit 77
fi
VIGILCTL="$top_builddir/daemon/vigilctl"
# configure --with-systemd=no: no libsystemd, no notifications, and the
# unit is Type=simple without a watchdog.
if ldd "$VIGILD" | grep -q libsystemd; then with_sd=yes; else with_sd=no; fi

# ------------------------------------------------------------ 1. install
STAGE="$T/stage"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "${MAKE:-make}" -C "$top_builddir" \
    install DESTDIR="$STAGE" >"$T/install.out" 2>&1 ||
	fail "make install: $(tail -n 20 "$T/install.out")"
staged() { # NAME PATH-PATTERN: the one staged file, its path in the root
	f=$(find "$STAGE" -name "$1" -path "$2" -type f)
	[ -n "$f" ] && [ "$(echo "$f" | wc -l)" -eq 1 ] || fail "staged $1: '$f'"
	echo "${f#"$STAGE"}"
}
UNIT=$(staged vigild.service '*/systemd/system/*')
SYSUSERS=$(staged vigil.conf '*/sysusers.d/*')
TMPFILES=$(staged vigil.conf '*/tmpfiles.d/*')
LOGROTATE=$(staged vigil '*/logrotate.d/*')

# The unit names its programs by their installed paths, found in the
# staged root; systemd's own units come from the host.
for d in /usr/lib/systemd/system /lib/systemd/system; do
	if [ -f "$d/sysinit.target" ]; then
		mkdir -p "$STAGE/usr/lib/systemd/system"
		cp -R "$d/." "$STAGE/usr/lib/systemd/system/"
		break
	fi
done
for p in $(sed -n 's/^Exec[A-Za-z]*=-*@*\([^ ]*\).*/\1/p' "$STAGE$UNIT"); do
	[ -x "$STAGE$p" ] || fail "the unit runs $p, which make install did not put there"
done
if [ "$with_sd" = yes ]; then want="notify 30s"; else want="simple 0"; fi
[ "$(sed -n 's/^Type=//p' "$STAGE$UNIT") $(sed -n 's/^WatchdogSec=//p' "$STAGE$UNIT")" = "$want" ] ||
	fail "the unit's Type= and WatchdogSec= are not $want"
if command -v man >/dev/null; then
	MANPATH="$(dirname "$(dirname "$(find "$STAGE" -name vigild.8)")")"
	export MANPATH
	man_opt=--man=yes
else
	man_opt=--man=no
fi
# With --root, systemd-analyze finds units in the root's search path
# only; a prefix such as distcheck's is not in it, /etc/systemd/system is.
mkdir -p "$STAGE/etc/systemd/system"
cp "$STAGE$UNIT" "$STAGE/etc/systemd/system/vigild.service"
rc=0
"$ANALYZE" verify "$man_opt" --root="$STAGE" /etc/systemd/system/vigild.service \
    >"$T/verify.out" 2>&1 || rc=$?
[ "$rc" -eq 0 ] && [ ! -s "$T/verify.out" ] ||
	fail "systemd-analyze verify (exit $rc): $(cat "$T/verify.out")"
# Exposure 0-10 (x10 here): above 2.0, some of the sandbox was lost.
"$ANALYZE" security --offline=yes --threshold=20 --root="$STAGE" \
    /etc/systemd/system/vigild.service >"$T/security.out" 2>&1 ||
	fail "the unit's sandbox: $(grep -e '✗' -e Overall "$T/security.out")"
if [ "$(id -u)" -eq 0 ]; then
	mkdir -p "$STAGE/etc"
	systemd-sysusers --root="$STAGE" "$STAGE$SYSUSERS" >"$T/sysusers.out" 2>&1 ||
		fail "systemd-sysusers: $(cat "$T/sysusers.out")"
	grep -q '^vigil:x:[0-9]*:[0-9]*:[^:]*:/var/lib/vigil:/usr/sbin/nologin$' \
	    "$STAGE/etc/passwd" || fail "no vigil user: $(cat "$STAGE/etc/passwd")"
	systemd-tmpfiles --root="$STAGE" --create "$STAGE$TMPFILES" \
	    >"$T/tmpfiles.out" 2>&1 || fail "systemd-tmpfiles: $(cat "$T/tmpfiles.out")"
	uid=$(sed -n 's/^vigil:x:\([0-9]*\):.*/\1/p' "$STAGE/etc/passwd")
	for d in run/vigil var/lib/vigil var/log/vigil; do
		[ "$(stat -c '%u %a' "$STAGE/$d")" = "$uid 750" ] ||
			fail "/$d: $(stat -c '%u %a' "$STAGE/$d"), want $uid 750"
	done
else
	echo "note: not root, sysusers.d and tmpfiles.d are not applied"
fi

# ------------------------------------------------------------ 2. notify
if [ "$with_sd" = no ]; then
	echo "note: vigild was built without libsystemd (--with-systemd=no):"
	echo "      it sends no notifications, so they are not checked"
	echo "systemd: ok"
	exit 0
fi
cat >"$T/notify.py" <<'PYEOF'
# Reads systemd notifications as the manager would: one JSON line per
# datagram, with the sender's pid and the monotonic time of receipt.
import json, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", data[:12])[0]
        t = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        out.write(json.dumps({"t": t, "pid": pid, "msg": msg.decode()}) + "\n")
        out.flush()
PYEOF
cat >"$T/launch.py" <<'PYEOF'
# Runs argv as systemd would run ExecStart=: WATCHDOG_PID is the pid
# that execs it, and memory may never become executable where the kernel
# can refuse it (PR_SET_MDWE, kept across fork and exec).
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) == 0 and \
        libc.prctl(PR_GET_MDWE, 0, 0, 0, 0) == PR_MDWE_REFUSE_EXEC_GAIN:
    open(sys.argv[1], "w").close()
os.environ["WATCHDOG_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
PYEOF

conf() { # EXTRA_WATCHLIST_TERMS
	daemon_section
	cat <<CONF
workers = { count = 2; batch = 4; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 20; } );
rules = (
  { plugin = "watchlist"; name = "t";
    lists = ( { name = "marker"; terms = [ "vigiltest"$1 ]; weight = 2.0; } ); }
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/logs/alerts.jsonl"; } );
CONF
}
mkdir -p "$T/logs"
conf "" >"$T/vigil.conf"
: >"$T/feed.jsonl"
N="$T/notify.jsonl"
: >"$N"
"$PY" "$T/notify.py" "$T/notify.sock" "$N" 2>"$T/notify.log" &
PIDS="$PIDS $!"
wait_for 30 test -S "$T/notify.sock" || fail "the notification reader did not start"

# strace, when it works here (ptrace may be forbidden in a container),
# and not in a sanitizer build: LeakSanitizer cannot work under ptrace,
# and the sanitizers' own calls are not vigild's.
STRACE=""
if grep -qa __asan_init "$VIGILD"; then
	echo "note: sanitizer build; system calls are not checked"
elif command -v strace >/dev/null &&
    strace -f -qq -o /dev/null true >/dev/null 2>&1; then
	STRACE="strace -f -qq -s 128 -o $T/strace.out"
else
	echo "note: no working strace; system calls are not checked"
fi
# The interpreter itself, not a wrapper script that strace would follow.
PYBIN=$("$PY" -c 'import sys; print(sys.executable)')
# 2 s: WATCHDOG=1 every second, and systemd would act after 2 s of none.
WD_USEC=2000000
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=$WD_USEC \
    $STRACE "$PYBIN" "$T/launch.py" "$T/mdwe" "$VIGILD" -c "$T/vigil.conf" \
    >>"$T/vigild.log" 2>&1 &
LPID=$!
PIDS="$PIDS $LPID"

count() { grep -c "$1" "$N" || true; }
at_least() { [ "$(count "$1")" -ge "$2" ]; }
wait_for 30 at_least '"READY=1' 1 || fail "no READY=1"
grep -q "running: generation 1" "$T/vigild.log" || fail "READY=1 before vigild ran"
VPID=$("$PY" -c 'import json,sys; print(next(json.loads(l)["pid"] for l in open(sys.argv[1]) if l.find("READY=1") >= 0))' "$N")
PIDS="$PIDS $VPID"
[ -f "$T/mdwe" ] || echo "note: the kernel has no PR_SET_MDWE; W^X is not checked"

feed() { # FROM TO
	i=$1
	while [ "$i" -le "$2" ]; do post "p$i" "vigiltest $i" >>"$T/feed.jsonl"; i=$((i + 1)); done
}
feed 1 20
wait_for 30 has_lines "$T/logs/alerts.jsonl" 20 || fail "first posts: $(lines "$T/logs/alerts.jsonl") alerts"

# An accepted reload, by vigilctl as ExecReload= does it.
conf ', "bonus"' >"$T/vigil.conf"
"$VIGILCTL" -s "$T/run/control.sock" reload >"$T/ctl.out" 2>&1 ||
	fail "reload: $(cat "$T/ctl.out")"
wait_for 10 at_least '"READY=1' 2 || fail "no READY=1 after the reload"
# A refused one.
echo 'workers = { count = "broken"; };' >>"$T/vigil.conf"
rc=0
"$VIGILCTL" -s "$T/run/control.sock" reload >"$T/ctl.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "broken reload: vigilctl exit $rc: $(cat "$T/ctl.out")"
wait_for 10 at_least '"READY=1' 3 || fail "no READY=1 after the refused reload"
conf ', "bonus"' >"$T/vigil.conf"

# logrotate's file, pointed at this test's files and this vigild.
if command -v logrotate >/dev/null; then
	sed -e "s|/var/log/vigil/|$T/logs/|" \
	    -e "s|systemctl kill .*|kill -HUP $VPID|" "$STAGE$LOGROTATE" >"$T/logrotate.conf"
	logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf" >"$T/logrotate.out" 2>&1 ||
		fail "logrotate: $(cat "$T/logrotate.out")"
	[ "$(lines "$T/logs/alerts.jsonl.1")" -eq 20 ] || fail "logrotate did not rotate"
	wait_for 10 at_least '"READY=1' 4 || fail "no READY=1 after logrotate's SIGHUP"
	feed 21 25
	wait_for 30 has_lines "$T/logs/alerts.jsonl" 5 ||
		fail "no alerts in the reopened file: $(lines "$T/logs/alerts.jsonl")"
	readies=4
else
	echo "note: logrotate is not installed; its file is not tried"
	feed 21 25
	wait_for 30 has_lines "$T/logs/alerts.jsonl" 25 || fail "posts after the reloads"
	readies=3
fi
# A few more watchdog periods, then stop.
sleep 3
kill -TERM "$VPID"
rc=0
wait "$LPID" || rc=$?
[ "$rc" -eq 0 ] || fail "vigild exited with $rc after SIGTERM"
sleep 0.5

"$PY" - "$N" "$VPID" "$WD_USEC" "$readies" <<'PYEOF' || fail "notifications: see above"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
vpid, wd, readies = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def fields(r):
    return dict(kv.split("=", 1) for kv in r["msg"].split("\n") if kv)
assert all(r["pid"] == vpid for r in recs), "a notification not from vigild's pid"
ev = [(r["t"], fields(r)) for r in recs]
# The lifecycle, watchdog pings aside.
seq = [("READY" if "READY" in f else "RELOADING" if "RELOADING" in f else
        "STOPPING" if "STOPPING" in f else None, t, f) for t, f in ev]
life = [(k, t, f) for k, t, f in seq if k]
kinds = [k for k, _, _ in life]
want = ["READY"] + ["RELOADING", "READY"] * (readies - 1) + ["STOPPING"]
assert kinds == want, (kinds, want)
for k, t, f in life:
    if k == "RELOADING":
        mono = int(f["MONOTONIC_USEC"])
        assert t - 5000000 <= mono <= t, ("MONOTONIC_USEC", mono, t)
    if k == "READY":
        assert f["STATUS"].startswith("running: generation "), f
statuses = [f["STATUS"] for _, f in ev if "STATUS" in f]
assert "generation 1," in life[0][2]["STATUS"], life[0]
assert "2 local workers" in " ".join(statuses), statuses
assert "generation 2," in life[2][2]["STATUS"], life[2]
assert "refused" not in life[2][2]["STATUS"], life[2]
assert "generation 2," in life[4][2]["STATUS"], life[4]
assert "last reload refused:" in life[4][2]["STATUS"], life[4]
if readies == 4:  # logrotate's SIGHUP: accepted
    assert "generation 3," in life[6][2]["STATUS"], life[6]
    assert "refused" not in life[6][2]["STATUS"], life[6]
# The watchdog: pings at half the interval from READY=1 to STOPPING=1,
# never a whole interval without one.
pings = [t for t, f in ev if f.get("WATCHDOG") == "1"]
assert len(pings) >= 3, ("watchdog pings", len(pings))
span = [life[0][1]] + pings + [life[-1][1]]
gaps = sorted(b - a for a, b in zip(span, span[1:]))
assert gaps[-1] < wd, ("a watchdog gap", gaps[-1], wd)
gaps = sorted(b - a for a, b in zip(pings, pings[1:]))
assert 0.4 * wd < gaps[len(gaps) // 2] < 0.6 * wd, ("median gap", gaps)
PYEOF

# ------------------------------------------------------------ 3. audit
if [ -n "$STRACE" ]; then
	"$PY" - "$T/strace.out" "$STAGE$UNIT" <<'PYEOF' || fail "the unit's sandbox would refuse what vigild does: see above"
import os, re, subprocess, sys
trace, unit = sys.argv[1:3]
uid, gid = os.getuid(), os.getgid()
lines = open(unit).read().split("\n")
# What is checked here must be what the unit says.
filters = [l for l in lines if l.startswith("SystemCallFilter=")]
assert filters == ["SystemCallFilter=@system-service",
                   "SystemCallFilter=~@privileged @resources"], filters
families = next(l for l in lines if l.startswith("RestrictAddressFamilies="))
families = families.split("=", 1)[1].split() + ["AF_LOCAL"]

def calls(group):
    out = subprocess.run(["systemd-analyze", "syscall-filter", group],
                         capture_output=True, text=True, check=True).stdout
    names = set()
    for n in (l.strip() for l in out.split("\n")[1:]):
        if n.startswith("@"):
            names |= calls(n)
        elif n and not n.startswith("#"):
            names.add(n)
    return names

allowed = calls("@system-service") - calls("@privileged") - calls("@resources")
call = re.compile(r"^(\d+) +(?:<\.\.\. ([a-z0-9_]+) resumed>|([a-z0-9_]+)\()(.*)$")
first, running, bad = None, False, set()
for line in open(trace):
    m = call.match(line.rstrip("\n"))
    if not m:
        continue
    pid, name, args = int(m.group(1)), m.group(2) or m.group(3), m.group(4)
    first = pid if first is None else first
    # The launcher's own calls, before it becomes vigild, do not count.
    if not running:
        running = pid == first and name == "execve" and \
            '/vigild"' in args and args.endswith("= 0")
        continue
    # SQLite gives its journal the database's owner when it runs as
    # root, as this test may; vigild under the unit never does.
    if name == "fchown" and re.match(r"\d+, %d, %d\)" % (uid, gid), args):
        continue
    if name not in allowed:
        bad.add("system call %s: %s" % (name, line.strip()))
    if m.group(2):
        continue  # a resumed call: its arguments were on the first line
    if name in ("socket", "socketpair") and args.split(",")[0] not in families:
        bad.add("address family: " + line.strip())
    if name in ("mprotect", "pkey_mprotect") and "PROT_EXEC" in args:
        bad.add("mapping made executable: " + line.strip())
    if name == "mmap" and "PROT_WRITE" in args and "PROT_EXEC" in args:
        bad.add("writable and executable mapping: " + line.strip())
    proc = re.search(r'"(/proc/[^"]*)"', args)
    if proc and not re.match(r"/proc/(self|thread-self|\d+)(/|$)", proc.group(1)):
        bad.add("/proc beyond the process's own: " + line.strip())
assert running, "vigild's execve is not in the trace"
for b in sorted(bad)[:40]:
    print(b)
sys.exit(1 if bad else 0)
PYEOF
fi
echo "systemd: ok"
