#!/usr/bin/python3
"""Turns run.sh's JSON lines into bench/results/serving.json (every run plus the ratios) and a markdown
table (serving.md). Usage: summarize.py RESULTS.jsonl OUT.json OUT.md"""
import datetime
import json
import os
import platform
import sys


def main(results_path, json_path, md_path):
    runs = [json.loads(line) for line in open(results_path) if line.strip()]

    def find(label, rpc, cells, mode):
        for r in runs:
            if r["label"] == label and r["rpc"] == rpc and r["cells"] == cells and r["mode"] == mode:
                return r
        return None

    def server_cpu(run):
        """CPU seconds the server (or the in-process limit) used in the run's window; None if not reported."""
        cpu = (run or {}).get("cpu_seconds", {})
        if run and run["mode"] == "inprocess":
            return cpu.get("self")
        others = [v for k, v in cpu.items() if k != "self"]
        return others[0] if others else None

    def cells_per_cpu_second(run):
        cpu = server_cpu(run)
        return run["cells_per_second"] * run["seconds"] / cpu if cpu and run.get("seconds") else None

    rows = []
    for rpc in ("encode", "generate"):
        g1, py1 = find("genailab", rpc, 1, "closed"), find("python", rpc, 1, "closed")
        # The ceiling is the faster of the two no-op servers (synchronous and callback API).
        noops = [r for r in (find("noop", rpc, 1, "closed"), find("noop_callback", rpc, 1, "closed")) if r]
        noop = max(noops, key=lambda r: r["requests_per_second"]) if noops else None
        g1024, py1024, limit = (find("genailab", rpc, 1024, "closed"), find("python", rpc, 1024, "closed"),
                                find("inprocess", rpc, 1024, "inprocess"))
        half = find("genailab", rpc, 1, "open")
        noop_half = find("noop_callback", rpc, 1, "open")
        ratio = lambda a, b, key: (a[key] / b[key]) if a and b and b[key] else None  # noqa: E731
        rows.append({"rpc": rpc, "metric": "1-cell, concurrency 64: genailab / faster no-op requests/s",
                     "ratio": ratio(g1, noop, "requests_per_second"), "target": ">= 0.7", "ok_if": (">=", 0.7)})
        rows.append({"rpc": rpc, "metric": "1-cell, concurrency 64: genailab / Python peer requests/s",
                     "ratio": ratio(g1, py1, "requests_per_second"), "target": ">= 5", "ok_if": (">=", 5.0)})
        rows.append({"rpc": rpc, "metric": "1024-cell: genailab / in-process limit cells/s",
                     "ratio": ratio(g1024, limit, "cells_per_second"), "target": ">= 0.9", "ok_if": (">=", 0.9)})
        rows.append({"rpc": rpc, "metric": "1024-cell: genailab / Python peer cells/s",
                     "ratio": ratio(g1024, py1024, "cells_per_second"), "target": "(info)", "ok_if": None})
        # The server's own CPU per cell against the bare forward pass's: what the ratio above would be if the
        # load generator and the kernel's loopback copies did not share the machine with the server.
        g_eff, limit_eff = cells_per_cpu_second(g1024), cells_per_cpu_second(limit)
        rows.append({"rpc": rpc, "metric": "1024-cell: cells per server CPU-second, genailab / in-process limit",
                     "ratio": (g_eff / limit_eff) if g_eff and limit_eff else None, "target": "(info)",
                     "ok_if": None})
        rows.append({"rpc": rpc, "metric": "1-cell at half the saturated rate: p99 / p50 latency",
                     "ratio": (half["p99_ms"] / half["p50_ms"]) if half and half["p50_ms"] else None,
                     "target": "< 3", "ok_if": ("<", 3.0)})
        rows.append({"rpc": rpc, "metric": "1-cell, no-op server (callback API) at the same rate: p99 / p50 latency",
                     "ratio": (noop_half["p99_ms"] / noop_half["p50_ms"]) if noop_half and noop_half["p50_ms"] else None,
                     "target": "(info)", "ok_if": None})
    for row in rows:
        check = row.pop("ok_if")
        if row["ratio"] is None or check is None:
            row["met"] = None
        else:
            row["met"] = row["ratio"] >= check[1] if check[0] == ">=" else row["ratio"] < check[1]

    summary = {
        "generated_at": datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "note": "Measured on a shared machine while other builds may run; compare ratios, not absolute figures.",
        "ratios": rows,
        "runs": runs,
    }
    with open(json_path, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")

    lines = ["| rpc | figure | ratio | target | met |", "|---|---|---:|---|---|"]
    for row in rows:
        value = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}"
        met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['rpc']} | {row['metric']} | {value} | {row['target']} | {met} |")
    lines += ["", "| server | rpc | cells/request | load | requests/s | cells/s | p50 ms | p90 ms | p99 ms | failed "
              "| server cores | load generator cores |",
              "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def cores(run, seconds_used):
        return "" if seconds_used is None or not run.get("seconds") else f"{seconds_used / run['seconds']:.2f}"
    for r in runs:
        load = (f"closed, C={r['concurrency']}" if r["mode"] == "closed" else
                f"open, {r['rate']:.0f}/s" if r["mode"] == "open" else
                f"stream, {r['completed']} reads" if r["mode"] == "stream" else
                f"in-process, {r.get('threads', 1)} threads")
        lines.append(f"| {r['label']} | {r['rpc']} | {r['cells']} | {load} | {r['requests_per_second']:.0f} | "
                     f"{r['cells_per_second']:.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['failed']} | {cores(r, server_cpu(r))} | "
                     f"{cores(r, r.get('cpu_seconds', {}).get('self') if r['mode'] != 'inprocess' else None)} |")
    with open(md_path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
