#!/bin/sh
# The fr rule on labelled posts, through `vigild --replay` as a rule author
# or compliance team would run it: the project's own cases with and
# without the overseas opening, the findings' legal, window and evidence
# fields, configurations the plugin must refuse, and the shared
# development corpus when ../shared/corpus is there (tests/fr/corpus.conf,
# as ../shared/corpus/README.md describes).
. "$(dirname "$0")/lib.sh"

FR="$top_srcdir/tests/fr"
CHECK="$top_srcdir/tests/kz/check_labels.py"

# The configs name the plugins and data relative to tests/fr of a build in
# the source tree. libconfig resolves @include against the config's own
# directory, so the copies sit two levels below a link to etc/.
mkdir -p "$T/t/fr"
ln -s "$top_srcdir/etc" "$T/etc"
localize() { # OVERSEAS_OPENING -> a copy of corpus.conf with it
	out="$T/t/fr/corpus-$1.conf"
	sed -e "s|\"../../plugins\"|\"$PLUGINS\"|" \
	    -e "s|overseas_opening = false;|overseas_opening = $1;|" \
	    "$FR/corpus.conf" >"$out"
	grep -q "overseas_opening = $1;" "$out" ||
		fail "$FR/corpus.conf: no overseas_opening to set"
	echo "$out"
}

check() { # CONFIG LABELLED NAME
	"$VIGILD" --replay "$2" -c "$1" >"$T/$3.out" 2>"$T/$3.log" ||
		fail "replay of $2 exited $?"
	"$PY" "$CHECK" "$2" "$T/$3.out" ||
		fail "$2: cases not scored as labelled"
}

METRO=$(localize false)
OVERSEAS=$(localize true)

# The cases as labelled (the window opens at 00:00 Paris), then with the
# labels of the overseas opening where they differ (expect_overseas).
check "$METRO" "$FR/cases.jsonl" cases
"$PY" - "$FR/cases.jsonl" "$T/cases-overseas.jsonl" <<'PYEOF' || fail "cannot relabel the cases"
import json, sys
n = 0
with open(sys.argv[1], encoding="utf-8") as f, \
        open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in f:
        case = json.loads(line)
        if "expect_overseas" in case:
            n += 1
            case["expect"] = case["expect_overseas"]
            if case["expect"] != "none":
                case["rules"] = ["fr.poll.blackout"]
                case.pop("not_rules", None)
        out.write(json.dumps(case, ensure_ascii=False) + "\n")
assert n >= 3, n
PYEOF
check "$OVERSEAS" "$T/cases-overseas.jsonl" cases-overseas

# Every finding cites the law, names its window and points into the
# original text; the windows' UTC bounds come from tzdata.
"$PY" - "$T/cases.out" "$T/cases-overseas.out" "$FR/cases.jsonl" <<'PYEOF' || fail "findings lack their legal, window or evidence fields"
import json, sys
metro = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
over = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
cases = [json.loads(l) for l in open(sys.argv[3], encoding="utf-8")]
seen = 0
for out in (metro, over):
    for case, res in zip(cases, out):
        for f in res.get("findings", []):
            seen += 1
            assert f["rule"] == "fr.poll.blackout" and f["jurisdiction"] == "fr", f
            assert "77-808" in f["legal"]["law"], f["legal"]
            assert f["legal"]["article"] == "Art. 11", f["legal"]
            assert "75 000" in f["legal"]["penalty"], f["legal"]
            assert f["window"]["name"].endswith("/blackout"), f["window"]
            assert f["window"]["start"] < f["window"]["end"], f["window"]
            assert f["window"]["end"].endswith("T18:00:00Z"), f["window"]
            assert f["signals"] and f["evidence"], f
            for ev in f["evidence"]:
                assert ev["field"] == "text", ev
                raw = case["text"].encode("utf-8")[ev["start"]:ev["end"]]
                assert raw.decode("utf-8") in ev["excerpt"], (case["id"], ev)
assert seen > 40, seen
def finding(out, cid):
    res = [r for c, r in zip(cases, out) if c["id"] == cid][0]
    return res["findings"][0]
# 00:00 Paris on 9 April 2022 (UTC+2) and 6 July 2024.
w = finding(metro, "fr-own-01")["window"]
assert w == {"name": "presidential-2022-1/blackout",
             "start": "2022-04-08T22:00:00Z", "end": "2022-04-10T18:00:00Z"}, w
w = finding(metro, "fr-own-27")["window"]
assert w["start"] == "2024-07-05T22:00:00Z", w
# Overseas: 00:00 on Friday in Miquelon (UTC-2 from March) opens it.
w = finding(over, "fr-own-04")["window"]
assert w == {"name": "presidential-2022-1/blackout",
             "start": "2022-04-08T02:00:00Z", "end": "2022-04-10T18:00:00Z"}, w
w = finding(over, "fr-own-26")["window"]
assert w["start"] == "2024-06-28T02:00:00Z", w
# The verdict lists the signals that fired, the coded ones included.
names = [s["name"] for s in finding(metro, "fr-own-14")["signals"]]
assert names == ["coded", "code_figure"], names
PYEOF

# Configurations the plugin refuses, each with file:line and the reason.
refused() { # WHAT ROUNDS-SETTINGS
	conf="$T/t/fr/refused.conf"
	cat >"$conf" <<CONF
daemon = { plugin_path = [ "$PLUGINS" ]; log_level = "warning"; };
rules = ( { plugin = "fr"; name = "fr";
$2
  @include "../../etc/fr/signals.conf"
} );
CONF
	if "$VIGILD" -t -c "$conf" >"$T/refused.log" 2>&1; then
		fail "a config with $1 was accepted"
	fi
	grep -q "refused.conf:3: .*$1" "$T/refused.log" ||
		fail "no file:line and \"$1\" in: $(cat "$T/refused.log")"
}
refused 'voting_day "2022-02-30" is not a date' \
    'rounds = ( { name = "r"; voting_day = "2022-02-30"; } );'
refused 'overseas voting_day "2022-04-11"' \
    'rounds = ( { name = "r"; voting_day = "2022-04-10"; overseas = ( { zones = [ "America/Martinique" ]; voting_day = "2022-04-11"; } ); } );'
refused 'America/Nowhere' \
    'rounds = ( { name = "r"; voting_day = "2022-04-10"; overseas = ( { zones = [ "America/Nowhere" ]; voting_day = "2022-04-09"; } ); } );'
refused 'round "r" is defined twice' \
    'rounds = ( { name = "r"; voting_day = "2022-04-10"; }, { name = "r"; voting_day = "2022-04-24"; } );'
refused 'is not a local time' \
    'rounds = ( { name = "r"; voting_day = "2022-04-10"; polls_close = "25:99"; } );'

CORPUS="$top_srcdir/../shared/corpus/fr-dev.jsonl"
if [ -f "$CORPUS" ]; then
	check "$METRO" "$CORPUS" fr-dev
else
	echo "no $CORPUS: the shared corpus check is skipped"
fi
echo "fr_cases: ok"
