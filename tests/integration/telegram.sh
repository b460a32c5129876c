#!/bin/sh
# The telegram input polls a fake Bot API (telegram_fake.py): messages,
# channel posts, polls and edits in Cyrillic and Kazakh with 64-bit ids
# reach the file sink mapped as doc/inputs/telegram.md says; 429 (with
# retry_after), 5xx, malformed and truncated answers are waited out; a
# clean restart in the middle of a stream loses and repeats nothing (the
# offsets asked for are checked); a kill -9 loses nothing; the token is
# never logged.
. "$(dirname "$0")/lib.sh"

TOKEN="123456789:AAH-vigil_test-TOKEN"
printf '%s\n' "$TOKEN" >"$T/token"
mkdir "$T/api"
"$PY" "$top_srcdir/tests/integration/telegram_fake.py" "$T/port" "$T/api" "$TOKEN" \
	2>"$T/fake.log" &
PIDS="$PIDS $!"
wait_for 10 test -s "$T/port" || fail "fake Bot API did not start"
PORT=$(cat "$T/port")

{
	daemon_section
	cat <<CONF
workers = { count = 2; batch = 8; };
# No deduplication: an edit raises its own alert, and a post scored twice
# would show.
outbox = { dedup_window_s = 0; };
inputs = ( { plugin = "telegram"; name = "tg"; base_url = "http://127.0.0.1:$PORT/";
	token_file = "$T/token"; timeout_s = 1; limit = 5;
	backoff_min_ms = 20; backoff_max_ms = 200; } );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; } );
CONF
} >"$T/vigil.conf"

# updates FIRST LAST: plain messages in a supergroup, ids past 2^32.
updates() {
	"$PY" - "$1" "$2" >>"$T/api/updates.jsonl" <<'PYEOF'
import json, sys
for i in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
    print(json.dumps({"update_id": 5000000000 + i, "message": {
        "message_id": 4294967296 + i, "date": 1609480800 + i,
        "chat": {"id": -1001234567890123, "type": "supergroup",
                 "title": "Алматы", "username": "almaty_talks"},
        "from": {"id": 7000000001, "first_name": "Айгүл", "username": "aigul"},
        "text": "vigiltest %d сайлау" % i}}, ensure_ascii=False))
PYEOF
}
# Alerts per post id, and the number of distinct alert ids.
count_posts() { # FIRST LAST: how many of the stream's posts have alerts
	"$PY" - "$T/alerts.jsonl" "$1" "$2" <<'PYEOF'
import json, sys
seen = {json.loads(l)["post"]["id"] for l in open(sys.argv[1])}
print(sum(1 for i in range(int(sys.argv[2]), int(sys.argv[3]) + 1)
          if "-1001234567890123/%d" % (4294967296 + i) in seen))
PYEOF
}
posts_at_least() { [ "$(count_posts "$1" "$2")" -ge "$3" ]; }

# --- Mapping: a message with entities, a channel poll, an edit, and two
# updates that carry no post.
cat >>"$T/api/updates.jsonl" <<'EOF2'
{"update_id": 5000000001, "message": {"message_id": 4294967297, "date": 1609480800, "chat": {"id": -1001234567890123, "type": "supergroup", "title": "Алматы", "username": "almaty_talks"}, "from": {"id": 7000000001, "is_bot": false, "first_name": "Айгүл", "last_name": "Сәрсенова", "username": "aigul"}, "text": "vigiltest Сайлау туралы: Қазақстан https://example.kz", "entities": [{"type": "url", "offset": 35, "length": 18}, {"type": "text_link", "offset": 0, "length": 9, "url": "https://hidden.example/"}]}}
{"update_id": 5000000002, "callback_query": {"id": "1", "from": {"id": 1, "first_name": "x"}}}
{"update_id": 5000000003, "channel_post": {"message_id": 12, "date": 1609484400, "chat": {"id": -1009876543210, "type": "channel", "title": "Жаңалықтар"}, "poll": {"id": "p", "question": "Опрос: за кого вы проголосуете?", "options": [{"text": "Ақ жол", "voter_count": 0}, {"text": "Ауыл", "voter_count": 0}]}, "forward_origin": {"type": "channel", "chat": {"id": -100555, "type": "channel", "username": "src"}, "message_id": 7, "date": 1}}}
{"update_id": 5000000004, "message": {"message_id": 4294967298, "date": 1609480801, "chat": {"id": -1001234567890123, "type": "supergroup", "title": "Алматы"}, "new_chat_members": [{"id": 5, "first_name": "n"}]}}
{"update_id": 5000000005, "edited_message": {"message_id": 4294967297, "date": 1609480800, "edit_date": 1609488000, "chat": {"id": -1001234567890123, "type": "supergroup", "title": "Алматы", "username": "almaty_talks"}, "from": {"id": 7000000001, "first_name": "Айгүл", "username": "aigul"}, "text": "vigiltest өзгертілді"}}
EOF2
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 20 has_lines "$T/alerts.jsonl" 3 || fail "mapping: $(lines "$T/alerts.jsonl") alerts, want 3"
"$PY" - "$T/alerts.jsonl" <<'PYEOF' || fail "mapping: alerts are wrong"
import json, sys
al = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for a in al:
    by.setdefault(a["post"]["id"], []).append(a)
assert set(by) == {"-1001234567890123/4294967297", "-1009876543210/12"}, by.keys()
msg = sorted(by["-1001234567890123/4294967297"], key=lambda a: a["post"]["created_at"])
assert len(msg) == 2, msg
first, edit = msg
p = first["post"]
assert p["platform"] == "telegram" and p["channel"] == "@almaty_talks", p
assert p["url"] == "https://t.me/almaty_talks/4294967297", p
assert p["author"] == {"id": "tg:7000000001", "handle": "@aigul",
                       "name": "Айгүл Сәрсенова", "kind": "person"}, p
assert p["created_at"].startswith("2021-01-01T06:00:00"), p
assert "Қазақстан" in first["evidence"][0]["excerpt"] or "vigiltest" in first["evidence"][0]["excerpt"], first
# The edit: same post, its own time and content, another alert id.
assert edit["post"]["created_at"].startswith("2021-01-01T08:00:00"), edit
assert "өзгертілді" in edit["evidence"][0]["excerpt"], edit
assert edit["id"] != first["id"]
poll = by["-1009876543210/12"][0]
assert poll["post"]["channel"] == "Жаңалықтар" and poll["post"]["url"] is None, poll
assert poll["post"]["author"]["id"] == "tg:-1009876543210", poll
assert poll["post"]["author"]["kind"] == "media", poll
assert poll["evidence"][0]["field"] == "poll.question", poll
PYEOF
# The next poll confirms the batch once its posts are recorded: it comes
# after the alerts, so wait for it.
asked_past_batch() { grep -q '"offset": *5000000006' "$T/api/requests.jsonl"; }
wait_for 20 asked_past_batch || true
"$PY" - "$T/api/requests.jsonl" <<'PYEOF' || fail "mapping: getUpdates requests are wrong"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert r[0]["offset"] is None and r[0]["limit"] == 5 and r[0]["timeout"] == 1, r[0]
assert r[0]["allowed"] == ["message", "edited_message", "channel_post", "edited_channel_post"], r[0]
assert any(x["offset"] == 5000000006 for x in r), [x["offset"] for x in r]
PYEOF

# --- Faults: 429 with retry_after, 5xx, malformed and truncated bodies.
printf '429 1\n500\n502\nmalformed\ntruncated\n' >"$T/api/faults"
updates 10 12
wait_for 30 posts_at_least 10 12 3 || fail "faults: $(count_posts 10 12) of 3 posts"
# A long poll already waiting may bring the posts before the faults are
# served: wait for the last fault and the request after it.
served_faults() { grep -A1 '"truncated"' "$T/api/requests.jsonl" | grep -q '"offset"'; }
wait_for 30 served_faults || true
"$PY" - "$T/api/requests.jsonl" <<'PYEOF' || fail "faults: retries are wrong"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
i = next(k for k, x in enumerate(r) if x.get("fault") == "429 1")
gap = r[i + 1]["t"] - r[i]["t"]
assert gap >= 0.9, "asked again %.2f s after a 429 with retry_after 1" % gap
assert [x.get("fault") for x in r[i:i + 5]] == ["429 1", "500", "502", "malformed", "truncated"]
PYEOF
grep -q 'HTTP 429 (Too Many Requests: retry after 1)' "$T/vigild.log" || fail "no 429 logged"
grep -q 'getUpdates: HTTP 502' "$T/vigild.log" || fail "no 502 logged"
grep -q 'unreadable answer: invalid JSON' "$T/vigild.log" || fail "no malformed answer logged"

# --- A clean restart in the middle of a stream: stop after some posts,
# go on; no post is lost or scored twice.
# Only the first half is served before the stop, so that it surely
# comes in the middle.
echo 5000000130 >"$T/api/gate"
updates 100 159
wait_for 30 posts_at_least 100 159 15 || fail "stream: $(count_posts 100 199) posts"
stop_vigild
before=$(count_posts 100 159)
[ "$before" -lt 60 ] || fail "stream: all posts were in before the stop; not mid-stream"
nreq=$(lines "$T/api/requests.jsonl")
nal=$(lines "$T/alerts.jsonl")
rm "$T/api/gate"
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 40 posts_at_least 100 159 60 || fail "restart: $(count_posts 100 159) of 60 posts"
"$PY" - "$T/alerts.jsonl" "$T/api/requests.jsonl" "$nreq" "$nal" <<'PYEOF' || fail "restart: posts repeated or offsets wrong"
import json, sys
al = [json.loads(l) for l in open(sys.argv[1])]
ids = [a["id"] for a in al]
dup = {i for i in ids if ids.count(i) > 1}
assert not dup, "alerts raised twice: %s" % dup
r = [json.loads(l) for l in open(sys.argv[2])]
n = int(sys.argv[3])
# Posts recorded before the stop: the first offset after the restart is
# right past the newest of them.
last = max(int(a["post"]["id"].split("/")[1]) - 4294967296 + 5000000000
           for a in al[:int(sys.argv[4])])
before = [x["offset"] for x in r[:n] if x.get("offset") is not None]
after = r[n]["offset"]
assert after == last + 1, "restarted at %s, want %d" % (after, last + 1)
assert after >= max(before), (after, max(before))
offs = [x["offset"] for x in r if x.get("offset") is not None]
assert offs == sorted(offs), "offsets went back"
print("restart at offset", after)
PYEOF

# --- kill -9 in the middle of a stream: nothing lost (repeats allowed,
# with the same alert ids).
echo 5000000250 >"$T/api/gate"
updates 200 299
wait_for 30 posts_at_least 200 299 10 || fail "kill: $(count_posts 200 299) posts"
kill -9 "$VPID"
wait "$VPID" 2>/dev/null || true
# Larger answers from now on: the rest comes in one.
rm "$T/api/gate"
sed -i 's/limit = 5;/limit = 100;/' "$T/vigil.conf"
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 40 posts_at_least 200 299 100 || fail "kill -9: $(count_posts 200 299) of 100 posts"
stop_vigild

! grep -q "$TOKEN" "$T/vigild.log" || fail "the token was logged"
! grep -q "AAH-vigil" "$T/vigild.log" || fail "part of the token was logged"
grep -q 'bot<token>/getUpdates' "$T/vigild.log" || fail "log lines do not name the API"
echo "telegram: ok ($(lines "$T/alerts.jsonl") alerts)"
