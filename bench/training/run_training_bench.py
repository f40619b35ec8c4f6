#!/usr/bin/python3
"""genailab-trainer's training loop (through genailab-train, the same RunTrainingJob the daemon runs) vs a
PyTorch training loop of the same model, data, batch size and thread count (pytorch_baseline.py), both on
the same LibTorch 1.13 and the same BLAS. Reports training cells/s per batch size (median over epochs after
the first) and the whole path from the h5ad file to a saved checkpoint, and writes JSON.

  bazel build -c opt //trainer:genailab-train
  /usr/bin/python3 bench/training/run_training_bench.py --train_binary=bazel-bin/trainer/genailab-train \
      --out=bench/training/results.json --cells=8000 --epochs=4 --threads=1
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

import anndata
import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))


def make_data(path, cells, genes, seed):
    rng = np.random.default_rng(seed)
    types = rng.integers(0, 4, size=cells)
    programs = rng.gamma(2.0, 1.0, size=(4, genes))
    mean = programs[types] / programs[types].sum(axis=1, keepdims=True) * 3000
    counts = rng.poisson(mean).astype(np.float32)
    obs = pd.DataFrame({"cell_type": [f"type_{t}" for t in types]}, index=[f"cell_{i}" for i in range(cells)])
    var = pd.DataFrame(index=[f"gene_{j:05d}" for j in range(genes)])
    anndata.AnnData(X=counts, obs=obs, var=var).write_h5ad(path)


def run_cpp(args, data, repository, batch_size):
    command = [args.train_binary, f"--data={data}", "--model_type=vae", "--likelihood=gaussian",
               f"--repository={repository}", "--model=bench", f"--epochs={args.epochs}",
               f"--batch_size={batch_size}", f"--threads={args.threads}", "--validation_fraction=0",
               f"--hidden_dims={args.hidden_dims}", "--latent_dim=10", "--dropout=0.1", "--seed=0"]
    started = time.perf_counter()
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - started
    rates = [float(m) for m in re.findall(r"cells_per_s=([0-9.]+)", output)]
    return rates, seconds, command


def run_python(args, data, out, batch_size):
    command = [sys.executable, os.path.join(HERE, "pytorch_baseline.py"), f"--data={data}", f"--out={out}",
               f"--epochs={args.epochs}", f"--batch_size={batch_size}", f"--threads={args.threads}",
               f"--hidden_dims={args.hidden_dims}"]
    started = time.perf_counter()
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return result["cells_per_second"], time.perf_counter() - started, command


def steady(rates):
    return statistics.median(rates[1:] if len(rates) > 1 else rates)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train_binary", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cells", type=int, default=20000)
    parser.add_argument("--genes", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden_dims", default="128,64")
    parser.add_argument("--batch_sizes", default="32,128,512")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each side per batch size, alternating; the best of each is reported "
                             "(robust to other load on a shared machine)")
    args = parser.parse_args()

    blas = subprocess.run(["update-alternatives", "--query", "libblas.so.3-x86_64-linux-gnu"],
                          capture_output=True, text=True).stdout
    blas_value = re.search(r"^Value: (.*)$", blas, re.M)
    results = {"command": " ".join(sys.argv), "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                                         "blas": blas_value.group(1) if blas_value else "unknown"},
               "cells": args.cells, "genes": args.genes, "epochs": args.epochs, "threads": args.threads,
               "repeats": args.repeats, "load_average_at_start": os.getloadavg(),
               "hidden_dims": args.hidden_dims, "per_batch_size": []}
    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "cells.h5ad")
        make_data(data, args.cells, args.genes, 0)
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            cpp_best, py_best = (0.0, float("inf")), (0.0, float("inf"))
            for repeat in range(args.repeats):
                cpp_rates, cpp_seconds, cpp_command = run_cpp(
                    args, data, os.path.join(work, f"repo{batch_size}_{repeat}"), batch_size)
                py_rates, py_seconds, py_command = run_python(
                    args, data, os.path.join(work, f"py{batch_size}.pt"), batch_size)
                cpp_best = (max(cpp_best[0], steady(cpp_rates)), min(cpp_best[1], cpp_seconds))
                py_best = (max(py_best[0], steady(py_rates)), min(py_best[1], py_seconds))
            cpp_seconds, py_seconds = cpp_best[1], py_best[1]
            row = {"batch_size": batch_size,
                   "genailab_cells_per_second": cpp_best[0], "pytorch_cells_per_second": py_best[0],
                   "genailab_h5ad_to_checkpoint_seconds": cpp_seconds,
                   "pytorch_h5ad_to_checkpoint_seconds": py_seconds,
                   "genailab_command": " ".join(cpp_command), "pytorch_command": " ".join(py_command)}
            row["training_ratio"] = row["genailab_cells_per_second"] / row["pytorch_cells_per_second"]
            row["end_to_end_ratio"] = py_seconds / cpp_seconds
            results["per_batch_size"].append(row)
            print(f"batch {batch_size}: genailab {row['genailab_cells_per_second']:.0f} cells/s, "
                  f"pytorch {row['pytorch_cells_per_second']:.0f} cells/s, ratio {row['training_ratio']:.2f}; "
                  f"h5ad->checkpoint {cpp_seconds:.2f}s vs {py_seconds:.2f}s (ratio {row['end_to_end_ratio']:.2f})",
                  flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
