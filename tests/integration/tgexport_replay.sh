#!/bin/sh
# vigild --replay FILE --input telegram-export: a channel's history from a
# Telegram Desktop export, scored by the kz rules, one line per post in
# the export's order with "line" = the message's place in it; a poll and
# poll results inside the 2021 blackout are found; service and bad
# messages give no line (bad ones are logged with file and index); a
# backlog smaller than the export pauses and resumes the input; a
# truncated export ends with its byte offset and exit 0 after the posts
# before it. Nothing is persisted: a second run gives the same output.
. "$(dirname "$0")/lib.sh"

# @include resolves against the config's directory: link etc/ beside it.
ln -s "$top_srcdir/etc" "$T/etc"
{
	daemon_section | sed 's/^};$/  backlog = 16;\n};/'
	cat <<CONF
workers = { count = 2; batch = 4; };
rules = (
  {
    plugin = "kz";
    name = "kz";
    @include "etc/kz/elections.conf"
    @include "etc/kz/signals.conf"
  },
$(watchlist_rule)
);
CONF
} >"$T/replay.conf"

# The export, as Telegram Desktop writes it (indented, one key a line),
# with 40 filler posts for the watchlist so that the backlog fills.
"$PY" - "$T/result.json" <<'PYEOF'
import json, sys
msgs = [
  {"id": 1, "type": "service", "date": "2020-11-01T10:00:00",
   "date_unixtime": "1604203200", "actor": "Алматы жаңалықтары",
   "actor_id": "channel1234567890123", "action": "create_channel",
   "title": "Алматы жаңалықтары", "text": "", "text_entities": []},
  {"id": 2, "type": "message", "date": "2020-11-20T12:00:00",
   "date_unixtime": "1605852000", "from": "Алматы жаңалықтары",
   "from_id": "channel1234567890123",
   "text": ["Сайлау ", {"type": "bold", "text": "жақында"},
            ": қатысыңыздар! ", {"type": "mention", "text": "@almaty"}]},
  # A native poll in the blackout (7 January 2021, 15:00 in Almaty).
  {"id": 3, "type": "message", "date": "2021-01-07T15:00:00",
   "date_unixtime": "1610010000", "from": "Айгүл", "from_id": "user4294967301",
   "text": "", "poll": {"question": "За какую партию вы проголосуете 10 января?",
   "closed": True, "total_voters": 120, "answers": [
     {"text": "Nur Otan", "voters": 80, "chosen": False},
     {"text": "Ақ жол", "voters": 30, "chosen": False},
     {"text": "Ауыл", "voters": 10, "chosen": False}]}},
  {"type": "message", "date": "2021-01-07T16:00:00", "text": "no id"},
  # Poll results published in the blackout, edited later; the id is past 2^32.
  {"id": 4294967302, "type": "message", "date": "2021-01-08T10:00:00",
   "date_unixtime": "1610078400", "edited": "2021-01-08T11:00:00",
   "edited_unixtime": "1610082000", "from": "Алматы жаңалықтары",
   "from_id": "channel1234567890123",
   "text": [{"type": "bold", "text": "Результаты опроса"},
            " о выборах в Мажилис: Nur Otan 71%, Ак жол 11%."]},
]
for i in range(40):
    msgs.append({"id": 4294967400 + i, "type": "message",
                 "date": "2021-02-01T10:00:00", "from": "Айгүл",
                 "from_id": "user4294967301", "text": "vigiltest %d" % i})
exp = {"name": "Алматы жаңалықтары", "type": "public_channel",
       "id": 1234567890123, "messages": msgs}
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump(exp, f, ensure_ascii=False, indent=1)
PYEOF

"$VIGILD" --replay "$T/result.json" --input telegram-export -c "$T/replay.conf" \
    >"$T/out.jsonl" 2>"$T/replay.log" || fail "replay exited $?"
"$PY" - "$T/out.jsonl" <<'PYEOF' || fail "replay output is wrong"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert [o["line"] for o in out] == [2, 3, 5] + list(range(6, 46)), [o["line"] for o in out]
by = {o["line"]: o for o in out}
assert by[2]["post_id"] == "1234567890123/2" and by[2]["severity"] == "none", by[2]
poll = by[3]
assert poll["post_id"] == "1234567890123/3", poll
rules = sorted(f["rule"] for f in poll["findings"])
assert rules == ["kz.poll.blackout", "kz.poll.unregistered"], rules
p = poll["post"]
assert p["created_at"] == "2021-01-07T09:00:00Z", p
assert p["url"] == "https://t.me/c/1234567890123/3", p
assert p["author"]["id"] == "tg:4294967301" and p["author"]["kind"] == "person", p
res = by[5]
assert res["post_id"] == "1234567890123/4294967302", res
f = [f for f in res["findings"] if f["rule"] == "kz.poll.blackout"]
assert f and f[0]["window"]["name"] == "mazhilis-2021/blackout", res
assert res["post"]["created_at"] == "2021-01-08T04:00:00Z", res["post"]
assert res["post"]["author"]["id"] == "tg:1234567890123", res["post"]
for n in range(6, 46):
    o = by[n]
    assert o["post_id"] == "1234567890123/%d" % (4294967400 + n - 6), o
    assert [f["rule"] for f in o["findings"]] == ["watchlist.marker"], o
    assert o["post"]["created_at"] == "2021-02-01T10:00:00Z", o["post"]
PYEOF
grep -q "result.json: message 4: field 'id': missing" "$T/replay.log" ||
	fail "the bad message is not reported with file and index"
grep -q "end of the export: 45 messages, 43 posts submitted, 1 service messages, 1 skipped as bad" "$T/replay.log" ||
	fail "no summary of the export"

"$VIGILD" --replay "$T/result.json" --input telegram-export -c "$T/replay.conf" \
    >"$T/out2.jsonl" 2>>"$T/replay.log" || fail "second replay exited $?"
cmp -s "$T/out.jsonl" "$T/out2.jsonl" || fail "a second replay differs: something was persisted"
[ ! -e "$T/state" ] || fail "a replay wrote to the state directory"

# Truncated in the middle of message 7: the messages before it are
# scored, and the log names the file and the byte.
size=$(wc -c <"$T/result.json")
cut=$(grep -b -o '"vigiltest 1"' "$T/result.json" | head -n 1 | cut -d: -f1)
head -c "$cut" "$T/result.json" >"$T/cut.json"
"$VIGILD" --replay "$T/cut.json" --input telegram-export -c "$T/replay.conf" \
    >"$T/cut.jsonl" 2>>"$T/replay.log" || fail "replay of a truncated export exited $?"
[ "$(lines "$T/cut.jsonl")" -eq 4 ] || fail "truncated: want 4 lines, got $(lines "$T/cut.jsonl")"
grep -q "cut.json: byte $cut: the file ends in the middle of the export (truncated); stopped reading after 6 messages" "$T/replay.log" ||
	fail "truncation not reported with its byte offset ($cut of $size)"

# Not an export at all, and a plugin that does not exist.
echo '[1, 2]' >"$T/array.json"
"$VIGILD" --replay "$T/array.json" --input telegram-export -c "$T/replay.conf" \
    >"$T/array.out" 2>>"$T/replay.log" || fail "replay of a non-export exited $?"
[ ! -s "$T/array.out" ] || fail "a non-export gave output"
grep -q "array.json: byte 1: the file is not a JSON object" "$T/replay.log" || fail "non-export not reported"
rc=0
"$VIGILD" --replay "$T/result.json" --input no-such-input -c "$T/replay.conf" \
    >/dev/null 2>>"$T/replay.log" || rc=$?
[ "$rc" -eq 1 ] || fail "unknown input plugin: exit $rc, want 1"
grep -q "replay --input no-such-input: " "$T/replay.log" || fail "unknown input plugin not reported"
echo "tgexport_replay: ok"
