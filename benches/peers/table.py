#!/usr/bin/env python3
"""Prints the medians of the last `cargo bench` run of this crate as a Markdown table.

Reads target/criterion/<group>/<function>/new/estimates.json (median point estimates) and
benchmark.json (throughput). Usage: python3 table.py [target/criterion]
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "target", "criterion")
PEERS = ["tungstenite", "tokio-websockets", "fastwebsockets"]
# Reference rows, listed after the peers: the recv copies alone, and the minimal receiver.
BASELINES = ["memcpy", "memcpy_region", "minimal_loop"]
rows = {}
for dirpath, dirnames, filenames in os.walk(root):
    if os.path.basename(dirpath) == "new" and "estimates.json" in filenames:
        bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
        est = json.load(open(os.path.join(dirpath, "estimates.json")))
        group, func = bench["group_id"], bench["function_id"]
        tp = bench.get("throughput") or {}
        tp = tp.get("ElementsAndBytes") or {}
        rows.setdefault(group, {})[func] = (est["median"]["point_estimate"], tp.get("elements", 1), tp.get("bytes", 0))


def order(g):
    kind, rest = g.split("/", 1)
    size = rest.split("/")[-1]
    unit = size.lstrip("0123456789")
    if unit not in ("B", "KiB", "MiB"):
        return (kind, rest, 0)
    n = int(size[: len(size) - len(unit)]) * {"B": 1, "KiB": 1024, "MiB": 1 << 20}[unit]
    return (kind, rest.split("/")[0], n)


print("| workload | implementation | median time/iter | ns/msg | GB/s (payload) | vs best peer |")
print("|---|---|---:|---:|---:|---:|")
for group in sorted(rows, key=order):
    funcs = rows[group]
    best = min((funcs[p][0] for p in PEERS if p in funcs), default=None)
    for func in sorted(funcs, key=lambda f: (not f.startswith("wsmachine"), f in BASELINES, f)):
        ns, elems, nbytes = funcs[func]
        t = f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"
        ratio = f"{best / ns:.2f}×" if best else ""
        gbs = f"{nbytes / ns:.2f}" if nbytes else "–"
        print(f"| {group} | {func} | {t} | {ns / elems:.1f} | {gbs} | {ratio} |")
