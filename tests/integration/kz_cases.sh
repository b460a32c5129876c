#!/bin/sh
# The kz rules on labelled posts, through `vigild --replay` as a rule author
# or compliance team would run it: the project's own cases under both
# readings, and the shared development corpus when ../shared/corpus is
# there (tests/kz/corpus.conf, as ../shared/corpus/README.md describes).
. "$(dirname "$0")/lib.sh"

KZ="$top_srcdir/tests/kz"

# The configs name the plugins and data relative to tests/kz of a build in
# the source tree. libconfig resolves @include against the config's own
# directory, so the copies sit two levels below a link to etc/.
mkdir -p "$T/t/kz"
ln -s "$top_srcdir/etc" "$T/etc"
localize() { # CONFIG -> its copy
	sed -e "s|\"../../plugins\"|\"$PLUGINS\"|" \
	    -e "s|\"pollsters.txt\"|\"$KZ/pollsters.txt\"|" \
	    "$1" >"$T/t/kz/$(basename "$1")"
	echo "$T/t/kz/$(basename "$1")"
}

check() { # CONFIG LABELLED
	name=$(basename "$2" .jsonl)
	conf=$(localize "$1")
	"$VIGILD" --replay "$2" -c "$conf" >"$T/$name.out" 2>"$T/$name.log" ||
		fail "replay of $2 exited $?"
	"$PY" "$KZ/check_labels.py" "$2" "$T/$name.out" ||
		fail "$2: cases not scored as labelled"
}

check "$KZ/cases.conf" "$KZ/cases.jsonl"
check "$KZ/broad.conf" "$KZ/cases-broad.jsonl"
# Cases written to probe the rules the way unseen posts would: every
# language and evasion, for the 2021 election as the corpus config has it.
check "$KZ/corpus.conf" "$KZ/cases-extra.jsonl"
check "$KZ/corpus.conf" "$KZ/cases-probe.jsonl"

# Evidence points into the original text: the excerpt of the first
# signal's evidence holds the words as written, look-alikes and all.
"$PY" - "$T/cases.out" "$KZ/cases.jsonl" <<'PYEOF' || fail "evidence does not point into the original text"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
cases = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
for case, res in zip(cases, out):
    for f in res.get("findings", []):
        assert f["legal"]["law"] and f["legal"]["article"], f
        assert f["window"]["name"] and f["window"]["start"] < f["window"]["end"], f
        assert f["signals"], f
        for ev in f["evidence"]:
            field = ev["field"]
            if field == "text":
                src = case["text"]
            elif field == "poll.question":
                src = case["poll"]["question"]
            else:
                src = case["poll"]["options"][int(field.split("[")[1][:-1])]
            raw = src.encode("utf-8")[ev["start"]:ev["end"]].decode("utf-8")
            assert raw in ev["excerpt"], (case["id"], ev, raw)
by = {c["id"]: r for c, r in zip(cases, out)}
ref = [f for f in by["own-024"]["findings"] if f["rule"] == "kz.poll.blackout"][0]
assert ref["legal"]["article"] == "Art. 7-1", ref["legal"]
assert ref["window"]["start"] == "2024-09-30T19:00:00Z", ref["window"]
PYEOF

CORPUS="$top_srcdir/../shared/corpus/kz-dev.jsonl"
if [ -f "$CORPUS" ]; then
	check "$KZ/corpus.conf" "$CORPUS"
else
	echo "no $CORPUS: the shared corpus check is skipped"
fi
echo "kz_cases: ok"
