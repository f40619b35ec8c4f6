#!/usr/bin/python3
"""Turns run.sh's JSON lines into bench/results/serving.json (every run plus the ratios) and a markdown
table (serving.md). Every ratio is taken within one round (the measurements of a round run minutes apart);
the summary gives its median over the rounds and their range. Usage: summarize.py RESULTS.jsonl OUT.json
OUT.md; RESULTS may also be an earlier OUT.json, whose runs are summarized again."""
import datetime
import json
import os
import platform
import statistics
import sys


def main(results_path, json_path, md_path):
    if results_path.endswith(".json"):  # an earlier summary: its runs, summarized again
        runs = json.load(open(results_path))["runs"]
    else:
        runs = [json.loads(line) for line in open(results_path) if line.strip()]
    for r in runs:
        r.setdefault("round", 1)
    rounds = sorted({r["round"] for r in runs})

    def find(label, rpc, cells, mode, round_):
        for r in runs:
            if (r["label"] == label and r["rpc"] == rpc and r["cells"] == cells and r["mode"] == mode
                    and r["round"] == round_):
                return r
        return None

    def server_cpu(run):
        """CPU seconds the server (or the in-process limit) used in the run's window; None if not reported."""
        cpu = (run or {}).get("cpu_seconds", {})
        if run and run["mode"] == "inprocess":
            return cpu.get("self")
        others = [v for k, v in cpu.items() if k != "self"]
        return others[0] if others else None

    def load_generator_cpu(run):
        """CPU seconds the load generator itself used in the run's window; None if not reported."""
        return (run or {}).get("cpu_seconds", {}).get("self")

    def cells_per_cpu_second(run):
        cpu = server_cpu(run)
        return run["cells_per_second"] * run["seconds"] / cpu if run and cpu and run.get("seconds") else None

    def cpu_per_cell(run, cpu):
        cells = run["cells_per_second"] * run["seconds"] if run and run.get("seconds") else 0
        return cpu / cells if cpu is not None and cells else None

    def zero_cost_bound(server_run, limit_run):
        """The 1024-cell ratio that a server costing nothing beyond the forward pass would reach if it shared
        the limit's cores with this load generator: F / (F + L), with F the limit's CPU per cell and L the
        load generator's (its serialization and the kernel's sends it pays for)."""
        forward = cpu_per_cell(limit_run, server_cpu(limit_run))
        load = cpu_per_cell(server_run, load_generator_cpu(server_run))
        return forward / (forward + load) if forward is not None and load is not None else None

    def noop_cost_bound(server_run, noop_run):
        """The 1-cell ratio that a server costing what the no-op server costs per request would reach with
        this load generator on the same cores: (S0 + L0) / (S0 + L), with S0 and L0 the no-op's and the load
        generator's CPU per request in the no-op run and L the load generator's in the genailab run (which
        parses genailab's fuller responses). Both runs keep the machine's cores busy, so requests/s follow
        the CPU per request (per cell, for 1-cell requests)."""
        s0 = cpu_per_cell(noop_run, server_cpu(noop_run))
        l0 = cpu_per_cell(noop_run, load_generator_cpu(noop_run))
        load = cpu_per_cell(server_run, load_generator_cpu(server_run))
        return (s0 + l0) / (s0 + load) if None not in (s0, l0, load) else None

    def quotient(a, b):
        return a / b if a is not None and b else None

    def per_round(value_of_round):
        values = [value_of_round(k) for k in rounds]
        return [v for v in values if v is not None]

    rows = []
    for rpc in ("encode", "generate"):
        def run(label, cells, mode, k):
            return find(label, rpc, cells, mode, k)

        def rps(r):
            return r["requests_per_second"] if r else None

        def cps(r):
            return r["cells_per_second"] if r else None

        def faster_noop(k):
            # The ceiling is the faster of the two no-op servers (synchronous and callback API).
            noops = [r for r in (run("noop", 1, "closed", k), run("noop_callback", 1, "closed", k)) if r]
            return max(noops, key=lambda r: r["requests_per_second"]) if noops else None

        def tail(r):
            return r["p99_ms"] / r["p50_ms"] if r and r["p50_ms"] else None

        figures = [
            ("1-cell, concurrency 64: genailab / faster no-op requests/s",
             lambda k: quotient(rps(run("genailab", 1, "closed", k)), rps(faster_noop(k))), ">= 0.7", (">=", 0.7)),
            ("1-cell, concurrency 64: the same ratio for a server costing what the no-op costs, with this load "
             "generator's CPU per request",
             lambda k: noop_cost_bound(run("genailab", 1, "closed", k), faster_noop(k)), "(info)", None),
            ("1-cell, concurrency 64: genailab / Python peer requests/s",
             lambda k: quotient(rps(run("genailab", 1, "closed", k)), rps(run("python", 1, "closed", k))),
             ">= 5", (">=", 5.0)),
            # The same 1-cell requests with omit_column_names set (a caller that took the gene names
            # from GetModel once): the responses carry the cells and their covariates only.
            ("1-cell, concurrency 64, omit_column_names: genailab / faster no-op requests/s",
             lambda k: quotient(rps(run("genailab_lean", 1, "closed", k)), rps(faster_noop(k))), ">= 0.7",
             (">=", 0.7)),
            ("1-cell, concurrency 64, omit_column_names: the same ratio for a server costing what the no-op "
             "costs, with this load generator's CPU per request",
             lambda k: noop_cost_bound(run("genailab_lean", 1, "closed", k), faster_noop(k)), "(info)", None),
            ("1-cell, concurrency 64, omit_column_names: genailab / Python peer requests/s",
             lambda k: quotient(rps(run("genailab_lean", 1, "closed", k)), rps(run("python_lean", 1, "closed", k))),
             ">= 5", (">=", 5.0)),
            # The same 1-cell requests as KServe v2 ModelInfer calls (whose outputs carry no names), against
            # the native calls without names.
            ("1-cell, concurrency 64: KServe v2 ModelInfer / genailab.v1 with omit_column_names requests/s",
             lambda k: quotient(rps(find("genailab_v2", "v2_" + rpc, 1, "closed", k)),
                                rps(run("genailab_lean", 1, "closed", k))), "(info)", None),
            ("1024-cell: genailab / in-process limit cells/s",
             lambda k: quotient(cps(run("genailab", 1024, "closed", k)), cps(run("inprocess", 1024, "inprocess", k))),
             ">= 0.9", (">=", 0.9)),
            ("1024-cell: genailab / Python peer cells/s",
             lambda k: quotient(cps(run("genailab", 1024, "closed", k)), cps(run("python", 1024, "closed", k))),
             "(info)", None),
            # The server's own CPU per cell against the bare forward pass's: what the ratio above would be
            # if the load generator and the kernel's loopback copies did not share the machine.
            ("1024-cell: cells per server CPU-second, genailab / in-process limit",
             lambda k: quotient(cells_per_cpu_second(run("genailab", 1024, "closed", k)),
                                cells_per_cpu_second(run("inprocess", 1024, "inprocess", k))), "(info)", None),
            ("1024-cell: the same ratio for a server with no cost beyond the forward pass, sharing the cores "
             "with this load generator",
             lambda k: zero_cost_bound(run("genailab", 1024, "closed", k), run("inprocess", 1024, "inprocess", k)),
             "(info)", None),
            ("1-cell at half the saturated rate: p99 / p50 latency",
             lambda k: tail(run("genailab", 1, "open", k)), "< 3", ("<", 3.0)),
            ("1-cell, no-op server (callback API) at the same rate: p99 / p50 latency",
             lambda k: tail(run("noop_callback", 1, "open", k)), "(info)", None),
        ]
        for metric, value_of_round, target, check in figures:
            values = per_round(value_of_round)
            median = statistics.median(values) if values else None
            met = None
            if median is not None and check is not None:
                met = median >= check[1] if check[0] == ">=" else median < check[1]
            rows.append({"rpc": rpc, "metric": metric, "ratio": median, "per_round": values, "target": target,
                         "met": met})

    summary = {
        "generated_at": datetime.datetime.utcnow().replace(microsecond=0).isoformat() + "Z",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "note": ("Measured on a shared machine; compare ratios, not absolute figures. ratio = the median over "
                 "rounds of the ratio within each round; per_round lists them."),
        "rounds": len(rounds),
        "ratios": rows,
        "runs": runs,
    }
    with open(json_path, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")

    lines = [f"| rpc | figure | median of {len(rounds)} rounds | range | target | met |",
             "|---|---|---:|---|---|---|"]
    for row in rows:
        value = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}"
        spread = (f"{min(row['per_round']):.2f} - {max(row['per_round']):.2f}" if row["per_round"] else "")
        met = "" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['rpc']} | {row['metric']} | {value} | {spread} | {row['target']} | {met} |")
    lines += ["", "| round | server | rpc | cells/request | load | requests/s | cells/s | p50 ms | p90 ms | p99 ms "
              "| failed | server cores | load generator cores |",
              "|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def cores(run, seconds_used):
        return "" if seconds_used is None or not run.get("seconds") else f"{seconds_used / run['seconds']:.2f}"

    for r in runs:
        load = (f"closed, C={r['concurrency']}" if r["mode"] == "closed" else
                f"open, {r['rate']:.0f}/s" if r["mode"] == "open" else
                f"stream, {r['completed']} reads" if r["mode"] == "stream" else
                f"in-process, {r.get('threads', 1)} threads")
        own = load_generator_cpu(r) if r["mode"] != "inprocess" else None
        lines.append(f"| {r['round']} | {r['label']} | {r['rpc']} | {r['cells']} | {load} | "
                     f"{r['requests_per_second']:.0f} | {r['cells_per_second']:.0f} | {r['p50_ms']:.2f} | "
                     f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['failed']} | {cores(r, server_cpu(r))} | "
                     f"{cores(r, own)} |")
    with open(md_path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
