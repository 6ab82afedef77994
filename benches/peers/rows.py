#!/usr/bin/env python3
"""The README's performance rows from race logs: the median over several races of each cell.

Usage: python3 rows.py LOG [LOG ...]   (outputs of `RECV_RACE=1 cargo bench -- recv/` and
`SEND_RACE=1 cargo bench -- send_`, e.g. three of each; `vendor.sh` runs them). Reads each log's
summary table (one line per workload: wsmachine, the fastest peer, that peer ÷ wsmachine and
the floor ÷ wsmachine, medians over rounds of ratios taken within each round) and prints, per README row, the
median over the logs of those ratios (> 1: wsmachine ahead), and the peers that were fastest.
The handshake row comes from criterion's last `handshake` run, if there is one.
"""
import collections
import json
import os
import re
import statistics
import sys

SIZES = ["16B", "1KiB", "64KiB", "1MiB"]
cells = collections.defaultdict(lambda: {"best": [], "floor": [], "peers": []})
forms = collections.defaultdict(lambda: {"floor": [], "own": []})
cpus = set()
for path in sys.argv[1:]:
    for line in open(path, encoding="utf-8"):
        if line.startswith("CPU: "):
            cpus.add(line[5:].split(";")[0].strip())
        parts = [p.strip() for p in line.strip().strip("|").split("|")]
        # | workload | wsmachine | fastest peer | best ratio (q1-q3) | floor ratio (q1-q3) or – |
        if len(parts) == 5 and re.match(r"(recv|send_\w+)/", parts[0]) and "(" in parts[3]:
            c = cells[parts[0]]
            c["best"].append(float(parts[3].split()[0]))
            if parts[4] != "–":
                c["floor"].append(float(parts[4].split()[0]))
            c["peers"].append(parts[2].rsplit(" ", 2)[0])
        # | workload | form | group's floor ÷ form (q1-q3) | own floor: ratio (q1-q3) |
        if len(parts) == 4 and parts[1] in ("wsmachine_slice", "wsmachine_header_only") and "(" in parts[2]:
            f = forms[(parts[0].split("/")[0], parts[1], parts[0].rsplit("/", 1)[1])]
            f["floor"].append(float(parts[2].split()[0]))
            f["own"].append(float(parts[3].split(":")[1].split()[0]))
            f["own_name"] = parts[3].split(":")[0]


def med(values):
    return f"{statistics.median(values):.2f}" if values else "–"


def row(label, groups):
    present = [g for g in groups if g in cells]
    if not present:
        return
    best = " / ".join(med(cells[g]["best"]) for g in present)
    floor = " / ".join(med(cells[g]["floor"]) for g in present)
    peers = ", ".join(dict.fromkeys(p for g in present for p in cells[g]["peers"]))
    runs = min(len(cells[g]["best"]) for g in present)
    print(f"| {label} | {peers} | {best} | {floor if floor.strip(' /–') else ''} | {runs} races |")


print(f"CPU: {', '.join(sorted(cpus)) or 'unknown'}")
print()
print("| workload | fastest peers | best peer ÷ wsmachine | floor ÷ wsmachine | |")
print("|---|---|---|---|---|")
for size in SIZES:
    row(f"receive {size[:-3] + ' KiB' if size.endswith('KiB') else size[:-3] + ' MiB' if size.endswith('MiB') else size[:-1] + ' B'} binary / ASCII / mixed", [f"recv/{k}/{size}" for k in ("binary", "ascii", "mixed")])
for role in ("client", "server"):
    row(f"{role} send 16 B / 1 KiB / 64 KiB / 1 MiB", [f"send_{role}/binary/{s}" for s in SIZES])

# The handshake, from criterion (`cargo bench -- handshake`): best peer's median ÷ wsmachine's.
est = os.path.join(os.path.dirname(__file__) or ".", "target", "criterion", "handshake_server")
medians = {}
for name in ("wsmachine", "tokio-websockets", "tungstenite"):
    path = os.path.join(est, name, "new", "estimates.json")
    if os.path.exists(path):
        medians[name] = json.load(open(path))["median"]["point_estimate"]
if "wsmachine" in medians and len(medians) > 1:
    peer = min((v, k) for k, v in medians.items() if k != "wsmachine")
    print(f"| server handshake | {peer[1]} | {peer[0] / medians['wsmachine']:.2f} | | criterion |")

# wsmachine's slice and header-only forms: the group's floor ÷ form (the bar: >= 0.95),
# and their own stricter floor ÷ form.
print()
print("| form | group's floor ÷ form, 16 B / 1 KiB / 64 KiB / 1 MiB | own floor ÷ form | |")
print("|---|---|---|---|")
for role in ("send_server", "send_client"):
    for form in ("wsmachine_slice", "wsmachine_header_only"):
        got = [forms[(role, form, size)] for size in SIZES if (role, form, size) in forms]
        if got:
            floor = " / ".join(med(f["floor"]) for f in got)
            own = " / ".join(med(f["own"]) for f in got)
            print(f"| {role} {form} | {floor} | {got[0]['own_name']}: {own} | {len(got[0]['floor'])} races |")
