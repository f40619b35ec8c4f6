"""Drives load-serve-unload cycles against a running genailab-server and records its memory.

Each cycle: LoadModel(model), a few Encode and Generate requests, UnloadModel(model), a pause of
--settle_s (so the server's once-a-second memory gauge has refreshed), then the server's RSS, read both
from /proc/<pid>/status (VmRSS) and from its process_resident_memory_bytes metric. Writes a JSON report
and prints a one-line summary. Used by bench/reload/run.sh.
"""
import argparse
import json
import re
import time
import urllib.request

import anndata
import numpy as np

import genailab
from genailab import errors


def proc_status_bytes(pid, *fields):
    """The named kB fields of /proc/<pid>/status (VmRSS, RssAnon, RssFile), in bytes."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in fields:
                values[name] = int(rest.split()[0]) * 1024
    missing = [f for f in fields if f not in values]
    if missing:
        raise RuntimeError(f"no {', '.join(missing)} in /proc/{pid}/status")
    return [values[f] for f in fields]


def vm_rss_bytes(pid):
    return proc_status_bytes(pid, "VmRSS")[0]


def scrape(metrics_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        return response.read().decode()


def metric(text, pattern):
    """Sum of the samples whose name{labels} matches `pattern` (a regex for the whole series name)."""
    total = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if re.fullmatch(pattern, series):
            total = (total or 0.0) + float(value)
    return total


def slope(xs, ys):
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    return float(np.polyfit(x, y, 1)[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True)
    parser.add_argument("--metrics_port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="h5ad with the model's genes and covariate columns")
    parser.add_argument("--covariate_keys", default="cell_type,condition,batch")
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--requests", type=int, default=10, help="Encode and Generate requests per cycle, each")
    parser.add_argument("--cells", type=int, default=256, help="cells per request")
    parser.add_argument("--settle_s", type=float, default=1.2)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.cycles < 4:
        parser.error("--cycles must be at least 4 (growth is fitted over the second half)")

    keys = [k for k in args.covariate_keys.split(",") if k]
    adata = anndata.read_h5ad(args.data)
    cells = adata[: args.cells].copy()
    group = {k: str(cells.obs[k].iloc[0]) for k in keys}

    rss, anon, metric_rss, rows = [], [], [], []
    started = time.time()
    with genailab.Client(args.target, timeout=120) as client:
        # The server loaded the model at start; begin from "not served".
        try:
            client.unload_model(args.model)
        except errors.NotFound:
            pass
        time.sleep(args.settle_s)
        baseline = vm_rss_bytes(args.pid)
        for cycle in range(1, args.cycles + 1):
            info = client.load_model(args.model)
            if client.health(f"genailab.model.{args.model}") != "SERVING":
                raise RuntimeError(f"cycle {cycle}: model not SERVING after LoadModel")
            encoded = generated = 0
            for i in range(args.requests):
                encoded += client.encode(cells, keys, model=args.model).mean.shape[0]
                generated += client.generate([(group, args.cells)], model=args.model, seed=cycle * 1000 + i).n_obs
            client.unload_model(args.model)
            if client.health(f"genailab.model.{args.model}") != "NOT_SERVING":
                raise RuntimeError(f"cycle {cycle}: model still SERVING after UnloadModel")
            time.sleep(args.settle_s)
            text = scrape(args.metrics_port)
            vm_rss, rss_anon, rss_file = proc_status_bytes(args.pid, "VmRSS", "RssAnon", "RssFile")
            rss.append(vm_rss)
            anon.append(rss_anon)
            metric_rss.append(int(metric(text, r"process_resident_memory_bytes") or 0))
            rows.append({"cycle": cycle, "version": info.version, "encoded_cells": encoded,
                         "generated_cells": generated, "vm_rss_bytes": vm_rss, "rss_anon_bytes": rss_anon,
                         "rss_file_bytes": rss_file,
                         "metric_rss_bytes": metric_rss[-1]})
        text = scrape(args.metrics_port)

    first = 5 if args.cycles >= 5 else 1
    growth = rss[-1] - rss[first - 1]
    span = max(1, args.cycles - first)
    report = {
        "cycles": args.cycles,
        "requests_per_cycle": {"encode": args.requests, "generate": args.requests, "cells": args.cells},
        "baseline_vm_rss_bytes": baseline,
        "per_cycle": rows,
        "growth_from_cycle": first,
        "growth_bytes": growth,
        "growth_bytes_per_cycle": growth / span,
        "slope_bytes_per_cycle": slope(range(first, args.cycles + 1), rss[first - 1:]),
        # The second half alone: growth that persists once allocator warm-up is over.
        "slope_second_half_bytes_per_cycle": slope(range(args.cycles // 2 + 1, args.cycles + 1),
                                                   rss[args.cycles // 2:]),
        "metric_growth_bytes": metric_rss[-1] - metric_rss[first - 1],
        # Anonymous memory only (heap, stacks): without library code paged in on first use.
        "anon_growth_bytes": anon[-1] - anon[first - 1],
        "anon_slope_second_half_bytes_per_cycle": slope(range(args.cycles // 2 + 1, args.cycles + 1),
                                                        anon[args.cycles // 2:]),
        "unloads_total": metric(text, r'genailab_model_unloads_total\{model="%s"\}' % re.escape(args.model)),
        "loads_total": metric(text, r'genailab_model_loads_total\{model="%s"\}' % re.escape(args.model)),
        "model_loaded_series": sum(1 for line in text.splitlines() if line.startswith("genailab_model_loaded{")),
        "wall_seconds": round(time.time() - started, 1),
    }
    with open(args.out, "w") as out:
        json.dump(report, out, indent=2)
        out.write("\n")
    mib = 1 << 20
    print(f"reload memory: {args.cycles} load-serve-unload cycles, RSS {rss[first - 1] / mib:.1f} MiB at cycle "
          f"{first} -> {rss[-1] / mib:.1f} MiB at cycle {args.cycles}: {growth / mib:+.2f} MiB "
          f"({growth / span / 1024:+.1f} KiB/cycle; fitted slope "
          f"{report['slope_bytes_per_cycle'] / 1024:+.1f} KiB/cycle, "
          f"second half {report['slope_second_half_bytes_per_cycle'] / 1024:+.1f} KiB/cycle); "
          f"anonymous {report['anon_growth_bytes'] / mib:+.2f} MiB (second half "
          f"{report['anon_slope_second_half_bytes_per_cycle'] / 1024:+.1f} KiB/cycle); "
          f"metric RSS {report['metric_growth_bytes'] / mib:+.2f} MiB; unloads {report['unloads_total']:.0f}")


if __name__ == "__main__":
    main()
