#!/usr/bin/env python3
"""Prints the medians of the last `cargo bench` run of this crate as Markdown tables.

Reads target/criterion/<group>/<function>/new/estimates.json (median point estimates) and
benchmark.json (throughput). Usage: python3 table.py [target/criterion]

The header names the CPU from /proc/cpuinfo of the machine running this script, so run it on the
machine that ran the benches. Three tables follow: every row of every group; for each send group
wsmachine (the `send_binary_vec` row), the fastest peer, the copy floor and their ratios; and
wsmachine's slice and header-only forms against the group's floor and a stricter floor of their own.
"""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "target", "criterion")
PEERS = [
    "tungstenite",
    "tokio-websockets",
    "fastwebsockets",
    "websocket-sans-io",
    "soketto",
    "soketto_codec",
    "yawc",
    "yawc_codec",
]
# Reference rows, listed after the peers: the recv copies alone, the minimal receiver, the send floors.
BASELINES = [
    "memcpy",
    "memcpy_region",
    "minimal_loop",
    "floor_header_copy",
    "floor_header_copy_mask",
    "floor_slice_copy",
    "floor_slice_copy_mask",
    "floor_header_only",
    "floor_header_mask",
]
# The copy floor of each send group kind.
FLOORS = {"send_server": "floor_header_copy", "send_client": "floor_header_copy_mask"}
# wsmachine's other send forms and the floor of each, by role.
FORM_FLOORS = {
    "send_server": [("wsmachine_slice", "floor_slice_copy"), ("wsmachine_header_only", "floor_header_only")],
    "send_client": [("wsmachine_slice", "floor_slice_copy_mask"), ("wsmachine_header_only", "floor_header_mask")],
}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    if not models:
        return "unknown (no model name in /proc/cpuinfo)"
    return f"{models[0]} ({len(models)} logical CPUs)"


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


def fmt_time(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"


def best_peer(funcs):
    """(name, median ns) of the fastest peer row of a group, or None."""
    present = [(funcs[p][0], p) for p in PEERS if p in funcs]
    if not present:
        return None
    ns, name = min(present)
    return name, ns


print(f"CPU: {cpu_model()}")
print()
print("| workload | implementation | median time/iter | ns/msg | GB/s (payload) | vs best peer |")
print("|---|---|---:|---:|---:|---:|")
for group in sorted(rows, key=order):
    funcs = rows[group]
    best = best_peer(funcs)
    for func in sorted(funcs, key=lambda f: (not f.startswith("wsmachine"), f in BASELINES, f)):
        ns, elems, nbytes = funcs[func]
        ratio = f"{best[1] / ns:.2f}×" if best else ""
        gbs = f"{nbytes / ns:.2f}" if nbytes else "–"
        print(f"| {group} | {func} | {fmt_time(ns)} | {ns / elems:.1f} | {gbs} | {ratio} |")

# Send summary: ratios are of median times, so > 1 means wsmachine is faster; the issue asks every
# send path for floor / wsmachine >= 0.95.
send_groups = [g for g in sorted(rows, key=order) if g.split("/", 1)[0] in FLOORS]
if send_groups:
    print()
    print(
        "| workload | wsmachine | best peer | floor | best peer / wsmachine | floor / wsmachine |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for group in send_groups:
        funcs = rows[group]
        ws = funcs.get("wsmachine")
        best = best_peer(funcs)
        floor_name = FLOORS[group.split("/", 1)[0]]
        floor = funcs.get(floor_name)
        ws_cell = fmt_time(ws[0]) if ws else "–"
        best_cell = f"{best[0]} {fmt_time(best[1])}" if best else "–"
        floor_cell = f"{floor_name} {fmt_time(floor[0])}" if floor else "–"
        peer_ratio = f"{best[1] / ws[0]:.2f}×" if ws and best else "–"
        floor_ratio = f"{floor[0] / ws[0]:.2f}×" if ws and floor else "–"
        print(f"| {group} | {ws_cell} | {best_cell} | {floor_cell} | {peer_ratio} | {floor_ratio} |")

    # The slice form and the header-only form, each against the floor (header + one copy
    # into a `Vec`, the group's floor row) and against a stricter floor of its own kind (the same
    # copy into the same slice; the header alone, or the header and an in-place mask pass).
    print()
    print("| workload | form | wsmachine | floor / wsmachine | own floor | own floor / wsmachine |")
    print("|---|---|---:|---:|---:|---:|")
    for group in send_groups:
        funcs = rows[group]
        floor = funcs.get(FLOORS[group.split("/", 1)[0]])
        for form, own_name in FORM_FLOORS[group.split("/", 1)[0]]:
            ws, own = funcs.get(form), funcs.get(own_name)
            if not ws:
                continue
            ratio = f"{floor[0] / ws[0]:.2f}×" if floor else "–"
            own_cell = f"{own_name} {fmt_time(own[0])}" if own else "–"
            own_ratio = f"{own[0] / ws[0]:.2f}×" if own else "–"
            print(f"| {group} | {form} | {fmt_time(ws[0])} | {ratio} | {own_cell} | {own_ratio} |")
