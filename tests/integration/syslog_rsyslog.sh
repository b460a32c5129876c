#!/bin/sh
# The syslog sink's RFC 5424 messages as a real rsyslogd reads them: one
# sink over UDP, one over TCP (octet counting, JSON MSG) and one to a unix
# socket, each checked field by field (MSGID, structured data with the
# alert id, APP-NAME, PROCID, BOM, Cyrillic text) against the file sink's
# alerts. Then rsyslogd restarts while posts keep coming: over TCP and the
# unix socket every alert still arrives, the sink retrying until the
# receiver is back. Settings that cannot work are refused first; the rest
# is skipped (77) without rsyslogd.
. "$(dirname "$0")/lib.sh"

# sink_conf NAME SETTINGS: a configuration with one syslog sink.
sink_conf() {
	{
		daemon_section
		printf 'rules = (\n%s\n);\n' "$(watchlist_rule)"
		echo "sinks = ( { plugin = \"syslog\"; $2 } );"
	} >"$T/$1.conf"
}
good() { # NAME SETTINGS
	sink_conf "$1" "$2"
	"$VIGILD" -t -c "$T/$1.conf" 2>"$T/$1.err" || fail "$1: refused: $(cat "$T/$1.err")"
}
bad() { # NAME PATTERN SETTINGS: refused, with file:line and PATTERN
	sink_conf "$1" "$3"
	rc=0
	"$VIGILD" -t -c "$T/$1.conf" 2>"$T/$1.err" || rc=$?
	[ "$rc" -ne 0 ] || fail "$1: accepted"
	grep -q -- "$1.conf:[0-9]*: $2" "$T/$1.err" || fail "$1: error lacks '$2': $(cat "$T/$1.err")"
}
good legacy 'format = "json";'
good unix5424 'format = "rfc5424"; transport = "unix"; message = "json";'
good tcp6 'format = "rfc5424"; transport = "tcp"; address = "[::1]:6514"; sd_id = "acme@99999.1";'
bad name "address 'localhost:514' must be a numeric" 'transport = "tcp"; address = "localhost:514";'
bad noport "address '127.0.0.1' must be a numeric" 'transport = "udp"; address = "127.0.0.1";'
bad noaddr "transport tcp needs an address" 'transport = "tcp";'
bad own "format rfc5424 needs transport" 'format = "rfc5424";'
bad sdid "sd_id 'vigil' must be" 'format = "rfc5424"; transport = "unix"; sd_id = "vigil";'
bad small "max_message must be at least 480" 'format = "rfc5424"; transport = "unix"; max_message = 300;'
bad conflict "message 'text' contradicts" 'format = "json"; message = "text";'
bad udpbig "max_message must be at most 65507" 'transport = "udp"; address = "127.0.0.1:514"; max_message = 100000;'
bad sockudp "socket is for transport unix" 'transport = "udp"; address = "127.0.0.1:514"; socket = "/dev/log";'
bad transport "transport 'relp' is not one of" 'transport = "relp";'
bad host "hostname 'a b' must be" 'hostname = "a b";'

RSYSLOGD=/usr/sbin/rsyslogd
if [ ! -x "$RSYSLOGD" ]; then
	echo "SKIP: $RSYSLOGD is not installed (Debian package rsyslog)"
	exit 77
fi

RS="$T/rs"
mkdir -p "$RS"
# imudp cannot say which port it took: take a free one and hand it over.
# imtcp takes its own (port 0) and writes it to a file; after a restart
# it listens on the same one again.
UDP_PORT=$("$PY" -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# rs_conf TCP_PORT: rsyslogd writes each message it parsed as one JSON
# line of its fields.
rs_conf() {
	cat <<CONF
global(workDirectory="$RS" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
template(name="fields" type="list" option.jsonf="on") {
  property(outname="input" name="inputname" format="jsonf")
  property(outname="protocol" name="protocol-version" format="jsonf")
  property(outname="pri" name="pri" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
ruleset(name="vigil") {
  action(type="omfile" file="$RS/received.jsonl" template="fields")
}
input(type="imudp" address="127.0.0.1" port="$UDP_PORT" ruleset="vigil")
input(type="imtcp" address="127.0.0.1" port="$1" listenPortFileName="$RS/tcp.port" ruleset="vigil")
input(type="imuxsock" Socket="$RS/log.sock" UseSpecialParser="off" ruleset="vigil")
*.* action(type="omfile" file="$RS/internal.log")
CONF
}

start_rsyslogd() { # TCP_PORT
	rm -f "$RS/tcp.port" "$RS/rsyslogd.pid"
	rs_conf "$1" >"$RS/rsyslog.conf"
	"$RSYSLOGD" -n -f "$RS/rsyslog.conf" -i "$RS/rsyslogd.pid" >>"$T/rsyslogd.log" 2>&1 &
	RSPID=$!
	PIDS="$PIDS $RSPID"
	wait_for 15 test -S "$RS/log.sock" || fail "rsyslogd did not start"
	# The port file is written for port 0 only.
	if [ "$1" = 0 ]; then
		wait_for 5 test -s "$RS/tcp.port" || fail "rsyslogd has no tcp port"
		TCP_PORT=$(cat "$RS/tcp.port")
	fi
	# Ready when a datagram gets through to the file.
	n=0
	until grep -q "probe-$1-$n" "$RS/received.jsonl" 2>/dev/null; do
		n=$((n + 1))
		[ "$n" -lt 100 ] || fail "rsyslogd does not receive on udp $UDP_PORT"
		"$PY" -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(("<13>1 - - probe - probe-%s - x" % sys.argv[2]).encode(), ("127.0.0.1", int(sys.argv[1])))' "$UDP_PORT" "$1-$n"
		sleep 0.1
	done
}

stop_rsyslogd() {
	kill -TERM "$RSPID"
	wait "$RSPID" 2>/dev/null || true
}

start_rsyslogd 0

# feed FIRST LAST: posts with Cyrillic text, a Cyrillic channel and a url
# that needs escaping in structured data; every third one a poll.
feed() {
	"$PY" - "$1" "$2" >>"$T/feed.jsonl" <<'PYEOF'
import json, sys
for i in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    text = "vigiltest №%d: Сауалнама нәтижелері" % i
    if i % 3 == 0:
        text += ", опрос подписчиков"
    print(json.dumps({"id": "r%d" % i, "platform": "telegram",
        "channel": "@сайлау_%d" % i,
        "url": 'https://t.me/c/%d?q="a]b\\c"' % i,
        "author": {"id": "tg:1", "handle": "@a", "name": "A", "kind": "person"},
        "created_at": "2021-01-05T10:00:00+06:00", "text": text},
        ensure_ascii=False))
PYEOF
}

sink() { # NAME TRANSPORT MORE
	echo "  { plugin = \"syslog\"; name = \"$1\"; format = \"rfc5424\"; transport = \"$2\"; ident = \"vigil-$2\"; min_severity = \"notice\"; $3 },"
}

{
	daemon_section
	cat <<CONF
workers = { count = 1; batch = 8; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 50; } );
rules = (
$(watchlist_rule)
);
sinks = (
$(sink udp udp "address = \"127.0.0.1:$UDP_PORT\"; hostname = \"vigil-test.example\";")
$(sink tcp tcp "address = \"127.0.0.1:$TCP_PORT\"; message = \"json\"; timeout_ms = 2000;")
$(sink unix unix "socket = \"$RS/log.sock\";")
  { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; min_severity = "notice"; }
);
CONF
} >"$T/vigil.conf"

# check FIRST LAST TRANSPORTS: the alerts of posts FIRST..LAST arrived
# over each of TRANSPORTS, as RFC 5424 with every field in its place.
check() {
	"$PY" - "$T/alerts.jsonl" "$RS/received.jsonl" "$VPID" "$@" <<'PYEOF'
import json, re, sys
alerts_file, received_file, pid, first, last = sys.argv[1:6]
transports = sys.argv[6:]
want = {}
for line in open(alerts_file, encoding="utf-8"):
    a = json.loads(line)
    n = int(a["post"]["id"][1:])
    if int(first) <= n <= int(last):
        want[a["id"]] = a
assert want, "no alerts for posts %s..%s" % (first, last)

def sd_params(sd):
    m = re.fullmatch(r'\[vigil@32473((?: [^=\] "]+="(?:[^"\\\]]|\\["\\\]])*")*)\]', sd)
    assert m, "structured data is not one vigil@32473 element: %r" % sd
    return {k: re.sub(r'\\(["\\\]])', r'\1', v)
            for k, v in re.findall(r' ([^=]+)="((?:[^"\\]|\\.)*)"', m.group(1))}

inputs = {"udp": "imudp", "tcp": "imtcp", "unix": "imuxsock"}
got = {t: {} for t in transports}
for line in open(received_file, encoding="utf-8"):
    r = json.loads(line)
    if r["app"] == "probe":
        continue
    t = r["app"].removeprefix("vigil-")
    assert r["input"] == inputs[t], r
    if t not in got:
        continue
    assert r["protocol"] == "1", "not read as RFC 5424: %r" % r
    p = sd_params(r["sd"])
    if p["id"] in want:
        got[t][p["id"]] = (r, p)

for t in transports:
    missing = sorted(set(want) - set(got[t]))
    assert not missing, "%s: %d of %d alerts missing, e.g. %s" % (
        t, len(missing), len(want), want[missing[0]]["post"]["id"])
    for aid, (r, p) in got[t].items():
        a = want[aid]
        assert r["msgid"] == a["rule"], (r["msgid"], a["rule"])
        assert r["procid"] == pid, r
        assert r["pri"] == str(3 * 8 + {"alert": 2, "warning": 4, "notice": 5, "none": 6}[a["severity"]]), r
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", r["timestamp"]) or t == "unix", r
        if t == "udp":
            assert r["hostname"] == "vigil-test.example", r
        assert p["rule"] == a["rule"] and p["severity"] == a["severity"], p
        assert p.get("jurisdiction") == a.get("jurisdiction"), p
        assert p["post"] == a["post"]["id"] and p["platform"] == "telegram", p
        assert p["channel"] == a["post"]["channel"] and p["channel"].startswith("@сайлау_"), p
        assert p["url"] == a["post"]["url"] and '"a]b\\c"' in p["url"], p
        assert r["msg"].startswith("\ufeff"), "MSG without BOM: %r" % r["msg"][:20]
        msg = r["msg"][1:]
        if t == "tcp":
            doc = json.loads(msg)
            assert doc["id"] == aid and doc == a, "JSON MSG differs from the alert"
        else:
            assert msg.startswith("alert id=%s rule=%s " % (aid, a["rule"])), msg
            assert "ауалнама нәтиже" in msg, msg
            assert "channel=\"%s\"" % a["post"]["channel"] in msg, msg
print("%s..%s: %d alerts over %s" % (first, last, len(want), " ".join(transports)))
PYEOF
}

feed 1 30
start_vigild "$T/vigil.conf" "$T/vigild.log"
# 30 marker alerts and 10 poll alerts.
wait_for 30 has_lines "$T/alerts.jsonl" 40 || fail "expected 40 alerts, got $(lines "$T/alerts.jsonl")"
wait_for 20 check 1 30 udp tcp unix || check 1 30 udp tcp unix || fail "alerts did not arrive in rsyslog"

# rsyslogd goes away between two posts and comes back on the same ports
# while more arrive: TCP and the unix socket retry until it is back.
stop_rsyslogd
feed 31 45
wait_for 30 has_lines "$T/alerts.jsonl" 60 || fail "expected 60 alerts, got $(lines "$T/alerts.jsonl")"
sleep 1
start_rsyslogd "$TCP_PORT"
feed 46 60
wait_for 30 has_lines "$T/alerts.jsonl" 80 || fail "expected 80 alerts, got $(lines "$T/alerts.jsonl")"
wait_for 40 check 31 60 tcp unix || check 31 60 tcp unix || fail "alerts lost across the restart of rsyslogd"
grep -q "connection closed by the receiver" "$T/vigild.log" ||
	fail "the TCP sink did not see rsyslogd go"
[ "$(grep -c "tcp: connected to 127.0.0.1:$TCP_PORT" "$T/vigild.log")" -ge 2 ] ||
	fail "the TCP sink did not connect again"
# UDP has no way to know: what was sent while rsyslogd was away is lost;
# what comes after it is back arrives.
wait_for 10 check 46 60 udp || check 46 60 udp || fail "udp alerts after the restart did not arrive"

stop_vigild
grep -q "undelivered" "$T/vigild.log" && fail "alerts left undelivered at exit"
echo "syslog_rsyslog: ok"
