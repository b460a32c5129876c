#!/bin/sh
# The telegram-export input in the daemon: an export's posts reach the
# file sink as alerts; a restart over the same export submits nothing
# again (the position is saved through acks); a later export of the same
# channel with new messages submits only those; another channel's export
# at the same path is read whole.
. "$(dirname "$0")/lib.sh"

{
	daemon_section
	cat <<CONF
workers = { count = 2; batch = 8; };
inputs = ( { plugin = "telegram-export"; name = "chan"; path = "$T/result.json";
             username = "almaty_news"; lang = "ru"; date_offset = "+06:00"; } );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; min_severity = "notice"; } );
CONF
} >"$T/vigil.conf"

export_of() { # CHAT_ID FIRST LAST: messages FIRST..LAST, each "vigiltest N"
	"$PY" - "$T/result.json" "$@" <<'PYEOF'
import json, sys
chat, first, last = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
msgs = [{"id": first - 1, "type": "service", "date": "2021-01-01T00:00:00",
         "action": "pin_message", "text": ""}]
for i in range(first, last + 1):
    msgs.append({"id": i, "type": "message", "date": "2021-01-02T10:00:00",
                 "from": "Айгүл", "from_id": "user%d" % (1 << 33),
                 "text": ["vigiltest ", {"type": "bold", "text": "№%d" % i}]})
msgs.append("not a message")
with open(sys.argv[1] + ".tmp", "w", encoding="utf-8") as f:
    json.dump({"name": "Almaty", "type": "public_channel", "id": chat,
               "messages": msgs}, f, ensure_ascii=False, indent=1)
PYEOF
	mv "$T/result.json.tmp" "$T/result.json"
}

export_of 5000000001 1 30
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 30 has_lines "$T/alerts.jsonl" 30 || fail "expected 30 alerts, got $(lines "$T/alerts.jsonl")"
wait_for 10 grep -q "end of the export: 32 messages, 30 posts submitted" "$T/vigild.log" ||
	fail "no summary of the export"
grep -q "result.json: message 32: expected a message object, got a string" "$T/vigild.log" ||
	fail "the bad message is not reported with file and index"
"$PY" - "$T/alerts.jsonl" <<'PYEOF' || fail "alerts are wrong"
import json, sys
alerts = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
ids = sorted(int(a["post"]["id"].split("/")[1]) for a in alerts)
assert ids == list(range(1, 31)), ids
a = alerts[0]
assert a["post"]["id"].startswith("5000000001/"), a["post"]
assert a["post"]["channel"] == "@almaty_news", a["post"]
assert a["post"]["url"] == "https://t.me/almaty_news/%s" % a["post"]["id"].split("/")[1], a["post"]
assert a["post"]["created_at"] == "2021-01-02T04:00:00Z", a["post"]
assert a["post"]["author"]["id"] == "tg:8589934592", a["post"]
PYEOF
# Let the saved position catch up with the last ack, then stop cleanly.
sleep 0.5
stop_vigild

# The same export again: nothing new.
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 30 grep -q "0 posts submitted, 0 service messages, 1 skipped as bad, 31 done before" "$T/vigild.log" || fail "restart did not skip the messages done before"
sleep 1
[ "$(lines "$T/alerts.jsonl")" -eq 30 ] || fail "restart repeated posts: $(lines "$T/alerts.jsonl") alerts"
stop_vigild

# A later export of the channel: 31..40 are new.
export_of 5000000001 1 40
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 30 has_lines "$T/alerts.jsonl" 40 || fail "re-export: expected 40 alerts, got $(lines "$T/alerts.jsonl")"
sleep 1
[ "$(lines "$T/alerts.jsonl")" -eq 40 ] || fail "re-export repeated posts: $(lines "$T/alerts.jsonl") alerts"
stop_vigild

# Another channel at the same path: its messages 1..5 are all read.
export_of 6000000002 1 5
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 30 has_lines "$T/alerts.jsonl" 45 || fail "other channel: expected 45 alerts, got $(lines "$T/alerts.jsonl")"
stop_vigild
grep -c '"id":"6000000002/' "$T/alerts.jsonl" | grep -qx 5 || fail "the other channel's posts are missing"
echo "tgexport_daemon: ok"
