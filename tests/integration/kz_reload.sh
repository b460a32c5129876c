#!/bin/sh
# The kz registry is data read again on reload: a pollster added to the
# registry file stops being flagged after SIGHUP, and a registry file that
# cannot be read is refused while the running rules keep scoring.
. "$(dirname "$0")/lib.sh"

{
	daemon_section
	cat <<CONF
workers = { count = 1; batch = 4; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 20; } );
rules = (
  { plugin = "kz"; name = "kz"; active = [ "mazhilis-2021" ];
    registry_file = "$T/pollsters.txt";
CONF
	cat "$top_srcdir/etc/kz/elections.conf" "$top_srcdir/etc/kz/signals.conf"
	cat <<CONF
  }
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; } );
CONF
} >"$T/vigil.conf"

poll() { # ID [HANDLE]
	printf '{"id":"%s","platform":"telegram","author":{"id":"tg:77","handle":"@%s","kind":"organization"},"created_at":"2020-12-15T10:00:00+06:00","poll":{"question":"За какую партию вы проголосуете 10 января?","options":["Nur Otan","Ак жол","НПК"]}}\n' "$1" "${2:-Saylau_Lab}"
}

echo "# nobody yet" >"$T/pollsters.txt"
: >"$T/feed.jsonl"
start_vigild "$T/vigil.conf" "$T/vigild.log"
poll k1 >>"$T/feed.jsonl"
wait_for 120 has_lines "$T/alerts.jsonl" 1 || fail "an unregistered poll raised no alert"

echo "saylau_lab   # notified 2020-11-30" >>"$T/pollsters.txt"
kill -HUP "$VPID"
wait_for 120 grep -q "reload: generation 2 running" "$T/vigild.log" || fail "reload did not apply"
poll k2 >>"$T/feed.jsonl"

# A registry that cannot be read: refused, the running rules stay.
mv "$T/pollsters.txt" "$T/pollsters.moved"
kill -HUP "$VPID"
wait_for 10 grep -q "reload refused.*pollsters.txt" "$T/vigild.log" || fail "unreadable registry not refused"
poll k3 >>"$T/feed.jsonl"
mv "$T/pollsters.moved" "$T/pollsters.txt"
poll k4 >>"$T/feed.jsonl"
# Someone else's poll after them: once its alert is out, k2 to k4 were
# read, and SIGTERM drains whatever of them is still being scored.
poll k5 someone_else >>"$T/feed.jsonl"
wait_for 120 has_lines "$T/alerts.jsonl" 2 || fail "the last poll raised no alert"
stop_vigild
"$PY" - "$T/alerts.jsonl" <<'PYEOF' || fail "the registry was not applied as reloaded"
import json, sys
alerts = [json.loads(l) for l in open(sys.argv[1])]
ids = sorted(a["post"]["id"] for a in alerts)
assert ids == ["k1", "k5"], ids
a = alerts[0]
assert a["rule"] == "kz.poll.unregistered" and a["severity"] == "alert", a
assert a["window"]["start"] == "2020-12-10T12:00:00Z", a["window"]
PYEOF
echo "kz_reload: ok"
