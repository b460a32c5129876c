#!/usr/bin/env python3
"""Compares `vigild --replay` output with labelled posts.

Usage: check_labels.py LABELLED.jsonl REPLAY_OUTPUT.jsonl

A labelled line has `expect` (alert, warning or none; a notice counts as
none), `rules` (ids that must be among the findings at warning or above)
and, in the project's own cases, `not_rules` (ids that must not be).
Prints one line per case that differs and a summary; exits 1 on any.
"""
import json
import sys


def main():
    labelled_path, replay_path = sys.argv[1], sys.argv[2]
    with open(labelled_path, encoding="utf-8") as f:
        cases = [json.loads(l) for l in f if l.strip()]
    with open(replay_path, encoding="utf-8") as f:
        results = [json.loads(l) for l in f if l.strip()]
    if len(cases) != len(results):
        print(f"{replay_path}: {len(results)} results for {len(cases)} cases")
        return 1
    failed = 0
    for case, res in zip(cases, results):
        if "error" in res:
            print(f"{case['id']}: rejected: {res['error']}")
            failed += 1
            continue
        sev = res.get("severity", "none")
        if sev == "notice":
            sev = "none"
        fired = {f["rule"] for f in res.get("findings", [])
                 if f.get("severity") in ("warning", "alert")}
        missing = set(case.get("rules", [])) - fired
        unwanted = set(case.get("not_rules", [])) & fired
        if sev != case["expect"] or missing or unwanted:
            failed += 1
            signals = {f["rule"]: [s["name"] for s in f.get("signals", [])]
                       for f in res.get("findings", [])}
            print(f"{case['id']}: expected {case['expect']} "
                  f"{sorted(case.get('rules', []))}, got {sev} "
                  f"{sorted(fired)}"
                  + (f", unwanted {sorted(unwanted)}" if unwanted else "")
                  + f" ({case.get('why', '')}; signals {signals})")
    print(f"{labelled_path}: {len(cases) - failed} of {len(cases)} cases "
          f"as labelled")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
