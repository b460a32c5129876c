#!/bin/sh
# The per-rule rate limit: past `outbox.rate_limit` alerts of a rule in an
# interval, alerts are recorded as held (not sent), and one summary alert
# counts them; a sink that redacts gets no author or excerpt. Read back
# from the file sink.
. "$(dirname "$0")/lib.sh"

{
	daemon_section
	cat <<CONF
workers = { count = 1; };
outbox = { rate_limit = 5; rate_interval_s = 2; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 50; } );
rules = (
$(watchlist_rule)
);
sinks = (
  { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; },
  { plugin = "file"; name = "r"; path = "$T/redacted.jsonl";
    redact = [ "author_id", "author_name", "excerpt" ]; }
);
CONF
} >"$T/vigil.conf"
: >"$T/feed.jsonl"
for i in $(seq 1 30); do post "r$i" "vigiltest rate $i" >>"$T/feed.jsonl"; done

start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 20 grep -q vigil.rate_limit "$T/alerts.jsonl" || fail "no summary alert"
wait_for 10 grep -q vigil.rate_limit "$T/redacted.jsonl" || fail "no summary alert in the redacting sink"
stop_vigild
"$PY" - "$T/alerts.jsonl" "$T/redacted.jsonl" <<'PYEOF' || fail "rate limit or redaction wrong"
import json, sys
alerts = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
marker = [a for a in alerts if a["rule"] == "watchlist.marker"]
summary = [a for a in alerts if a["rule"] == "vigil.rate_limit"]
assert len(marker) == 5, len(marker)
assert len(summary) == 1, summary
assert summary[0]["title"].startswith("25 alerts of rule watchlist.marker held back"), summary[0]["title"]
assert summary[0]["severity"] == "notice", summary[0]
assert summary[0]["post"]["platform"] == "vigil"
for a in marker:
    assert a["post"]["author"]["id"] == "tg:1" and a["evidence"][0]["excerpt"], a
red = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
assert len(red) == 6, len(red)
for a in red:
    au = a["post"]["author"]
    assert au["id"] is None and au["handle"] is None and au["name"] is None, au
    assert au["kind"] == "person" or a["rule"] == "vigil.rate_limit", au
    for e in a["evidence"]:
        assert e["excerpt"] is None, e
PYEOF
"$PY" - "$T/state/outbox.db" <<'PYEOF' || fail "held alerts not recorded"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
held = db.execute("SELECT count(*) FROM deliveries WHERE state=3").fetchone()[0]
assert held == 50, held  # 25 alerts, two sinks
PYEOF
grep -q 'rate limit: 25 alerts of rule watchlist.marker held back' "$T/vigild.log" || fail "the hold is not logged"
echo "rate limit: ok"
