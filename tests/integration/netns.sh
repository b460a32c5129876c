#!/bin/sh
# Remote worker hosts, simulated by network namespaces joined to the root
# namespace by veth pairs: vigild (root namespace) has a local worker and
# dials vigil-workers on three "hosts", two over tls+tcp:// with mutual
# TLS and one over plain tcp://. Mid-stream, while they hold requests, a
# TLS host's link goes down (and later up again) and the tcp host's link
# is deleted. Every post still gets exactly one verdict, through a reload
# that reads the TLS files again.
#
# Needs root and iproute2 (ip netns); skipped (77) where not permitted.
: "${TEST_TIMEOUT:=120}"
. "$(dirname "$0")/lib.sh"

W="$top_builddir/daemon/vigil-worker"
ID=$$
NSS=""
LINKS=""

# Our namespaces and links only, by the names this run gave them.
netns_cleanup() {
	for l in $LINKS; do ip link del "$l" 2>/dev/null || true; done
	for n in $NSS; do ip netns del "$n" 2>/dev/null || true; done
}
trap 'cleanup; netns_cleanup' EXIT

command -v openssl >/dev/null || { echo "netns: skipped: no openssl"; exit 77; }

# ---------------------------------------------------------------- PKI
# A CA, vigild's certificate, one for the workers (an encrypted key),
# and a stranger's.
P="$T/pki"
mkdir -p "$P"
ssl() { openssl "$@" 2>>"$T/openssl.log" || fail "openssl $1 failed"; }
EC="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
ssl req -x509 $EC -keyout "$P/ca.key" -out "$P/ca.pem" -days 2 -subj /CN=ca
leaf() { # NAME DNS
	ssl req -new $EC -keyout "$P/$1.key" -out "$P/$1.csr" -subj "/CN=$2"
	printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$2" >"$P/$1.ext"
	ssl x509 -req -in "$P/$1.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" \
	    -CAcreateserial -out "$P/$1.pem" -days 2 -extfile "$P/$1.ext"
}
leaf vigild vigild
leaf worker vigil-worker
# Self-signed: not from the CA that vigild trusts.
ssl req -x509 $EC -keyout "$P/stranger.key" -out "$P/stranger.pem" -days 2 \
    -subj /CN=vigil-worker -addext subjectAltName=DNS:vigil-worker
echo "correct horse" >"$P/pass"
# mbedTLS (nng's TLS) reads the traditional encrypted PEM form.
ssl ec -in "$P/worker.key" -aes256 -passout "file:$P/pass" -out "$P/worker.enc.key"

tls_group() { # CERT KEY [EXTRA]
	echo "tls = { cert = \"$P/$1.pem\"; key = \"$P/$2\"; ca = \"$P/ca.pem\"; server_name = \"vigil-worker\"; ${3:-} };"
}
conf() { # NAME WORKERS-BODY [INPUT-AND-SINK]
	mkdir -p "$T/$1"
	cat <<CONF
daemon = { state_dir = "$T/$1/state"; runtime_dir = "$T/$1/run";
  plugin_path = [ "$PLUGINS", "$TESTPLUGINS" ]; log_level = "info"; };
admin = { listen = ""; };
# Off, so that a post scored twice would show as two alerts.
outbox = { dedup_window_s = 0; };
workers = { $2 };
rules = (
$(watchlist_rule)
);
${3:-}
CONF
}

# vigild -t loads the files and says what is wrong with them.
check_bad() { # WHAT WORKERS-BODY PATTERN
	conf bad "$2" >"$T/bad.conf"
	if "$VIGILD" -t -c "$T/bad.conf" 2>"$T/bad.err"; then
		fail "vigild -t accepted $1"
	fi
	grep -q "$3" "$T/bad.err" || fail "vigild -t on $1: '$(cat "$T/bad.err")' lacks '$3'"
	! grep -q "correct horse" "$T/bad.err" || fail "vigild -t printed the passphrase"
}
EP='count = -1; remote = [ "tls+tcp://127.0.0.1:9" ];'
check_bad "a missing key" "$EP $(tls_group vigild nothere.key)" "nothere.key: No such file"
check_bad "another certificate's key" "$EP $(tls_group vigild worker.key)" "is not the key of cert"
echo "wrong" >"$P/badpass"
check_bad "a wrong passphrase" \
    "$EP $(tls_group worker worker.enc.key "key_password_file = \"$P/badpass\";")" "key_password_file right"
check_bad "an encrypted key without passphrase" \
    "$EP $(tls_group worker worker.enc.key)" "set key_password_file"
check_bad "no ca" "$EP tls = { cert = \"$P/vigild.pem\"; key = \"$P/vigild.key\"; };" "workers.tls.ca"
conf good "$EP $(tls_group worker worker.enc.key "key_password_file = \"$P/pass\";")" >"$T/good.conf"
"$VIGILD" -t -c "$T/good.conf" 2>"$T/good.err" || fail "vigild -t: $(cat "$T/good.err")"

# ---------------------------------------------------------------- hosts
if ! command -v ip >/dev/null || ! ip netns add "vn${ID}p" 2>/dev/null; then
	echo "netns: skipped: 'ip netns' is not permitted here (needs root and iproute2)"
	exit 77
fi
ip netns del "vn${ID}p"

# A /30 per host in 10.X.Y.0/24, from our pid; another if that is in use.
for k in 0 1 2 3 4 5 6 7; do
	NET="10.$((100 + (ID / 256 + k) % 150)).$(((ID + 37 * k) % 256))"
	ip -o addr show | grep -q " $NET\." || break
done
host_ip() { echo "$NET.$((4 * $1 + 2))"; }
ns() { echo "vn${ID}h$1"; }
add_host() { # I
	n=$(ns "$1")
	ip netns add "$n" || fail "ip netns add $n"
	NSS="$NSS $n"
	ip link add "vn${ID}r$1" type veth peer name "vn${ID}p$1" netns "$n" ||
		fail "ip link add vn${ID}r$1"
	LINKS="$LINKS vn${ID}r$1"
	ip addr add "$NET.$((4 * $1 + 1))/30" dev "vn${ID}r$1"
	ip link set "vn${ID}r$1" up
	ip -n "$n" addr add "$(host_ip "$1")/30" dev "vn${ID}p$1"
	ip -n "$n" link set "vn${ID}p$1" up
}
for i in 1 2 3; do add_host "$i"; done

conf worker "$(tls_group worker worker.enc.key "key_password_file = \"$P/pass\";")" >"$T/worker.conf"
start_worker() { # HOST URL
	ip netns exec "$(ns "$1")" "$W" -c "$T/worker.conf" --listen "$2" 2>"$T/w$1.log" &
	PIDS="$PIDS $!"
	eval "W$1=\$!"
}
start_worker 1 "tls+tcp://$(host_ip 1):7400"
start_worker 2 "tls+tcp://$(host_ip 2):7400"
start_worker 3 "tcp://$(host_ip 3):7400"
# One whose certificate vigild must refuse.
conf stranger "$(tls_group stranger stranger.key)" >"$T/stranger.conf"
SP=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$W" -c "$T/stranger.conf" --listen "tls+tcp://127.0.0.1:$SP" 2>"$T/stranger.log" &
PIDS="$PIDS $!"

conf d "count = 1; batch = 16; inflight = 2; reply_timeout_ms = 1500;
  remote = [ \"tls+tcp://$(host_ip 1):7400\", \"tls+tcp://$(host_ip 2):7400\",
    \"tcp://$(host_ip 3):7400\", \"tls+tcp://127.0.0.1:$SP\" ];
  $(tls_group vigild vigild.key)" \
    "inputs = ( { plugin = \"jsonl\"; name = \"feed\"; path = \"$T/feed.jsonl\"; poll_ms = 20; } );
sinks = ( { plugin = \"file\"; name = \"f\"; path = \"$T/alerts.jsonl\"; } );" >"$T/d.conf"

# The stream, in chunks written at the steps below.
N=4500
"$PY" - "$T" <<'PYEOF'
import sys
for k, (a, b) in enumerate([(1, 1000), (1001, 1500), (1501, 2500), (2501, 3000), (3001, 4000), (4001, 4500)]):
    with open("%s/chunk%d" % (sys.argv[1], k), "w") as f:
        for i in range(a, b + 1):
            f.write('{"id":"p%d","created_at":"2021-01-05T10:00:00+06:00","text":"vigiltest %d"}\n' % (i, i))
PYEOF
feed() { cat "$T/chunk$1" >>"$T/feed.jsonl"; }
# vigild holds a connection to HOST's worker.
connected() { ip netns exec "$(ns "$1")" ss -Htn state established "( sport = :7400 )" | grep -q .; }
# vigild gave up waiting on a request to URL.
timed_out() { grep -qF "link $1: no reply within 1500 ms" "$T/vigild.log"; }

: >"$T/feed.jsonl"
start_vigild "$T/d.conf" "$T/vigild.log"
for i in 1 2 3; do
	wait_for 20 connected "$i" || fail "vigild did not connect to host $i"
done
feed 0
wait_for 30 has_lines "$T/alerts.jsonl" 500 || fail "$(lines "$T/alerts.jsonl") alerts before the cuts"
# Host 2 stops answering, so that requests wait there, and loses its
# link: vigild must give up on them and score them elsewhere.
kill -STOP "$W2"
feed 1
sleep 0.3
ip link set "vn${ID}r2" down
kill -CONT "$W2"
feed 2
wait_for 20 timed_out "tls+tcp://$(host_ip 2):7400" || fail "no request was waiting on host 2 when cut"
# The same on host 3, over tcp://, its link deleted outright.
kill -STOP "$W3"
feed 3
sleep 0.3
ip link del "vn${ID}r3"
kill -CONT "$W3"
wait_for 20 timed_out "tcp://$(host_ip 3):7400" || fail "no request was waiting on host 3 when cut"
# Host 2 comes back: vigild dials it again.
ip link set "vn${ID}r2" up
wait_for 20 connected 2 || fail "vigild did not reconnect to host 2"
feed 4
wait_for 30 has_lines "$T/alerts.jsonl" 4000 || fail "$(lines "$T/alerts.jsonl") alerts, want 4000"
# A reload reads the TLS files again: a missing key is refused, by name,
# and the running generation carries on; once back, the reload applies.
mv "$P/vigild.key" "$P/vigild.key.away"
kill -HUP "$VPID"
wait_for 10 grep -q "reload refused.*vigild.key: No such file" "$T/vigild.log" ||
	fail "a reload with a missing key was not refused, naming the file"
mv "$P/vigild.key.away" "$P/vigild.key"
kill -HUP "$VPID"
wait_for 10 grep -q "reload: generation [0-9]* running" "$T/vigild.log" || fail "reload with the key back failed"
wait_for 20 connected 1 || fail "the new generation did not connect to host 1"
feed 5
wait_for 30 has_lines "$T/alerts.jsonl" "$N" || fail "$(lines "$T/alerts.jsonl") alerts, want $N"
sleep 0.5
"$PY" - "$T/alerts.jsonl" "$N" <<'PYEOF' || fail "not exactly one verdict per post"
import json, sys
ids = [json.loads(l)["post"]["id"] for l in open(sys.argv[1])]
want = {"p%d" % i for i in range(1, int(sys.argv[2]) + 1)}
dup, lost = len(ids) - len(set(ids)), len(want - set(ids))
if dup or lost or set(ids) != want:
    sys.exit("%d alerts: %d repeated, %d posts lost" % (len(ids), dup, lost))
PYEOF
# A handshake in progress may show for a moment; a kept connection stays.
stranger_held() { ss -Htn state established "( dport = :$SP )" | grep -q .; }
if stranger_held && sleep 0.7 && stranger_held && sleep 0.7 && stranger_held; then
	fail "a worker with an untrusted certificate kept a connection"
fi
! grep -q "correct horse" "$T"/*.log || fail "a passphrase reached a log"
stop_vigild
echo "netns: ok"
