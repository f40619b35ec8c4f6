"""Collects the model benchmark's outputs (run.sh) into bench/results/models.json and a markdown table.

Usage: summarize.py WORK_DIR JSON_OUT MARKDOWN_OUT
"""
import json
import os
import sys

# label -> (model trained, how it predicts)
ROWS = [
    ("no_change", None, "baseline: control cells unchanged"),
    ("mean_shift", None, "baseline: + mean stimulated-control shift of the other cell types"),
    ("oracle_other_types", None, "reference (uses the true response; not a method): x exp(true mean log fold change of the other types)"),
    ("cvae", "cvae", "cVAE counterfactual decode"),
    ("scgen", "scgen", "VAE + latent arithmetic (scGen-style)"),
    ("beta_vae", "beta_vae", "beta-VAE (beta=4) counterfactual decode"),
    ("diffusion_ddim50", "diffusion", "diffusion, DDIM eta=0, 50 steps"),
    ("diffusion_ddpm1000", "diffusion", "diffusion, ancestral DDPM, 1000 steps"),
    ("diffusion_pf_ode_heun25", "diffusion", "diffusion, probability-flow ODE Heun, 25 steps"),
    ("latent_diffusion_ddim50", "latent_diffusion", "diffusion in a cVAE's latent space, DDIM 50 steps"),
    ("latent_diffusion_plain_vae_ddim50", "latent_diffusion_plain_vae",
     "diffusion in the latent space of a VAE without covariates, DDIM 50 steps"),
    ("flow_euler10", "flow", "flow matching, Euler, 10 steps"),
    ("flow_heun10", "flow", "flow matching, Heun, 10 steps"),
]


def main(work, json_out, markdown_out):
    train_seconds = {}
    with open(os.path.join(work, "train_times.txt")) as f:
        for line in f:
            name, seconds = line.split()
            train_seconds[name] = float(seconds)
    timings = {}
    with open(os.path.join(work, "timings.jsonl")) as f:
        for line in f:
            entry = json.loads(line)
            label = os.path.basename(entry["out"])[len("pred_"):-len(".h5ad")]
            timings[label] = entry
    rows = []
    for label, model, description in ROWS:
        path = os.path.join(work, "eval_%s.json" % label)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            samples = json.load(f)["samples"]
        rows.append({
            "method": label,
            "description": description,
            "r2_top100_genes": samples["r2"]["mean_top_genes"],
            "r2_all_genes": samples["r2"]["mean_all_genes"],
            "delta_r2_top100_genes": samples["r2"]["delta_top_genes"],
            "mmd_squared": samples["mmd"]["mmd_squared"],
            "energy_distance": samples["energy_distance"],
            "knn_auc": samples.get("knn_auc"),
            "train_seconds": train_seconds.get(model) if model else None,
            "sampling_seconds_per_1000_cells": timings[label]["seconds_per_1000_cells"] if model else None,
            "cells": samples["cells"]["generated"],
        })
    with open(json_out, "w") as f:
        json.dump({"work_dir": work, "rows": rows}, f, indent=2)
    fmt = lambda v, p=3: "-" if v is None else ("%.*f" % (p, v))
    lines = [
        "| method | R^2 top-100 DE genes | R^2 all genes | delta R^2 top-100 | MMD^2 | energy distance | kNN AUC | train s | sampling s / 1000 cells |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["description"], fmt(r["r2_top100_genes"]), fmt(r["r2_all_genes"]), fmt(r["delta_r2_top100_genes"]),
            fmt(r["mmd_squared"], 4), fmt(r["energy_distance"]), fmt(r["knn_auc"]), fmt(r["train_seconds"], 1),
            fmt(r["sampling_seconds_per_1000_cells"], 2)))
    with open(markdown_out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
