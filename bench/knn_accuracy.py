#!/usr/bin/python3
"""k-nearest-neighbour cell-type accuracy of embeddings, k-fold stratified, numpy only.

Compares the embeddings that `genailab encode` wrote (obsm keys of one or more h5ad files) with a PCA of the
reference matrix of the original data, and writes the figures as JSON.

  knn_accuracy.py --data pbmc.h5ad --layer raw/X --label bulk_labels \
      --embedding cvae=emb_cvae.h5ad:X_genailab --embedding vae=emb_vae.h5ad:X_genailab --out result.json
"""
import argparse
import json

import anndata
import numpy as np


def stratified_folds(labels, n_folds, seed):
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=int)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        fold[members] = np.arange(len(members)) % n_folds
    return fold


def knn_accuracy(embedding, labels, k, n_folds, seed):
    embedding = np.asarray(embedding, dtype=np.float64)
    fold = stratified_folds(labels, n_folds, seed)
    correct = 0
    for f in range(n_folds):
        test, train = fold == f, fold != f
        d = ((embedding[test, None, :] - embedding[None, train, :]) ** 2).sum(-1)
        neighbours = np.argsort(d, axis=1)[:, :k]
        train_labels = labels[train]
        for row, truth in zip(neighbours, labels[test]):
            values, counts = np.unique(train_labels[row], return_counts=True)
            correct += values[np.argmax(counts)] == truth
    return correct / len(labels)


def pca(x, n_components):
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    return u[:, :n_components] * s[:n_components]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--layer", default="raw/X")
    parser.add_argument("--label", required=True)
    parser.add_argument("--embedding", action="append", default=[], help="name=file.h5ad:obsm_key")
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--pca_components", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    data = anndata.read_h5ad(args.data)
    matrix = data.raw.X if args.layer == "raw/X" else (data.X if args.layer == "X" else data.layers[args.layer])
    matrix = matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
    labels = np.asarray(data.obs[args.label].astype(str))

    results = {"k": args.k, "folds": args.folds, "label": args.label, "n_cells": int(len(labels)),
               "accuracy": {}}
    results["accuracy"][f"pca{args.pca_components}_{args.layer}"] = knn_accuracy(
        pca(matrix, args.pca_components), labels, args.k, args.folds, args.seed)
    for spec in args.embedding:
        name, rest = spec.split("=", 1)
        path, key = rest.rsplit(":", 1)
        emb = anndata.read_h5ad(path)
        if list(emb.obs_names) != list(data.obs_names):
            raise SystemExit(f"{path}: cells differ from {args.data}")
        results["accuracy"][name] = knn_accuracy(emb.obsm[key], labels, args.k, args.folds, args.seed)
    with open(args.out, "w") as out:
        json.dump(results, out, indent=2)
    for name, value in results["accuracy"].items():
        print(f"{name:32s} {value:.3f}")


if __name__ == "__main__":
    main()
