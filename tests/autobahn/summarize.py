#!/usr/bin/env python3
"""Summarise a kosoku/Autobahn index.json: one line per role, a TSV, non-zero exit unless strict OK.

usage: summarize.py ROLE INDEX_JSON OUT_TSV [EXCLUDED_COUNT]
"""
import json
import sys

role, index, out = sys.argv[1], sys.argv[2], sys.argv[3]
excluded = int(sys.argv[4]) if len(sys.argv) > 4 else 0
PASS = ("OK", "INFORMATIONAL")


def key(case):
    return [int(x) for x in case.split(".")]


with open(index) as f:
    data = json.load(f)
cases = {}
for agent_cases in data.values():
    cases.update(agent_cases)
counts = {}
bad = []
with open(out, "w") as f:
    f.write("case\tbehavior\tbehaviorClose\tduration_ms\n")
    for case in sorted(cases, key=key):
        v = cases[case]
        f.write(f"{case}\t{v['behavior']}\t{v['behaviorClose']}\t{v.get('duration', 0)}\n")
        b = v["behavior"]
        if b in PASS and v["behaviorClose"] not in PASS:
            b = "CLOSE " + v["behaviorClose"]
        counts[b] = counts.get(b, 0) + 1
        if b not in PASS:
            bad.append(f"{case}={b}")
ok = counts.get("OK", 0) + counts.get("INFORMATIONAL", 0)
others = ", ".join(
    f"{counts.get(k, 0)} {k}" for k in ("NON-STRICT", "FAILED", "WRONG CODE", "UNIMPLEMENTED", "ERROR")
)
extra = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if k.startswith("CLOSE "))
nine = sum(cases[c].get("duration", 0) for c in cases if c.startswith("9."))
line = f"{role}: {ok}/{len(cases)} OK ({others}{', ' + extra if extra else ''}; "
line += f"{counts.get('INFORMATIONAL', 0)} INFORMATIONAL; {excluded} excluded; 9.* total {nine} ms)"
print(line)
if bad:
    print(f"{role}: not passing: " + " ".join(bad[:60]) + (" ..." if len(bad) > 60 else ""))
    sys.exit(1)
