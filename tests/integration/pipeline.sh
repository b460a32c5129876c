#!/bin/sh
# Posts in through the jsonl input, alerts out through the file sink and
# a syslog sink on a unix socket read by a real receiver; an invalid line
# is reported with file:line and skipped; a clean restart neither skips
# nor repeats a post; SIGTERM drains and exits 0.
. "$(dirname "$0")/lib.sh"

# The syslog receiver: a unix datagram socket, one line per message.
"$PY" - "$T/syslog.sock" "$T/syslog.out" <<'PYEOF' &
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        data = s.recv(65536)
        out.write(data.replace(b"\n", b" ") + b"\n")
PYEOF
PIDS="$PIDS $!"
wait_for 10 test -S "$T/syslog.sock" || fail "syslog receiver did not start"

{
	daemon_section
	cat <<CONF
workers = { count = 2; batch = 16; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 50; } );
rules = (
$(watchlist_rule)
);
sinks = (
  { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; min_severity = "notice"; },
  { plugin = "syslog"; name = "s"; socket = "$T/syslog.sock"; min_severity = "warning"; format = "text"; }
);
CONF
} >"$T/vigil.conf"

: >"$T/feed.jsonl"
for i in $(seq 1 50); do post "p$i" "vigiltest number $i" >>"$T/feed.jsonl"; done
post "q1" "vigiltest: опрос для подписчиков" >>"$T/feed.jsonl"
echo '{"id": 5, "created_at": "nope"}' >>"$T/feed.jsonl"
post "q2" "another vigiltest POLL" >>"$T/feed.jsonl"

start_vigild "$T/vigil.conf" "$T/vigild.log"
# 52 posts match the marker list; q1 and q2 also match "poll".
wait_for 30 has_lines "$T/alerts.jsonl" 54 || fail "expected 54 alerts, got $(lines "$T/alerts.jsonl")"
wait_for 10 has_lines "$T/syslog.out" 2 || fail "expected 2 syslog messages, got $(lines "$T/syslog.out")"
grep -q "feed.jsonl:52: " "$T/vigild.log" || fail "invalid line not reported with file:line"

"$PY" - "$T/alerts.jsonl" <<'PYEOF' || fail "alert documents are wrong"
import json, sys
alerts = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
ids = {a["id"] for a in alerts}
assert len(ids) == len(alerts), "duplicate alert ids"
rules = sorted(a["rule"] for a in alerts)
assert rules.count("watchlist.marker") == 52, rules
assert rules.count("watchlist.poll") == 2, rules
for a in alerts:
    assert a["version"] == 1
    assert a["post"]["platform"] == "telegram"
    assert a["evidence"], a
q1 = [a for a in alerts if a["post"]["id"] == "q1" and a["rule"] == "watchlist.poll"][0]
ev = q1["evidence"][0]
text = "vigiltest: опрос для подписчиков".encode()
assert text[ev["start"]:ev["end"]].decode() == "опрос", ev
assert q1["severity"] in ("warning", "alert"), q1["severity"]
PYEOF
grep -q "rule=watchlist.poll" "$T/syslog.out" || fail "syslog message lacks the rule"
grep -q "vigiltest" "$T/vigild.log" && fail "post text leaked into the daemon's log"

stop_vigild
n=$(lines "$T/alerts.jsonl")

# A clean restart: only the new posts are scored.
for i in $(seq 51 60); do post "p$i" "vigiltest number $i" >>"$T/feed.jsonl"; done
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 30 has_lines "$T/alerts.jsonl" $((n + 10)) || fail "restart: expected $((n + 10)) alerts, got $(lines "$T/alerts.jsonl")"
sleep 1
[ "$(lines "$T/alerts.jsonl")" -eq $((n + 10)) ] || fail "restart repeated posts: $(lines "$T/alerts.jsonl") alerts"
stop_vigild
echo "pipeline: ok"
