"""PNG figures of a served model: its latent space, its training curves and a perturbation prediction.

    python3 -m genailab report --target=127.0.0.1:50051 --model=pbmc --data=cells.h5ad \
        --covariate_keys=cell_type,condition --color=cell_type \
        --perturb="cell_type=CD4 T" --source=control --target_condition=stimulated \
        --train_log=train.log --eval_json=eval.json --out_dir=figures

Writes into --out_dir:
  latent_pca.png          the cells' posterior means (Encode) projected on their first two principal
                          components (UMAP is not among Debian's packages), coloured by --color.
  training_curves.png     every per-epoch quantity of genailab-train's log ("epoch i/n key=value ..."),
                          (only with --train_log).
  perturbation_means.png  scGen's figure: per-gene mean of the real --target_condition cells (x) against the
                          model's prediction from the --source_condition cells (y), R^2 over all genes and
                          over the top responding genes, those genes labelled (only with --perturb).
  evaluation.png          every number in the evaluation JSON as a bar (only with --eval_json).
The figure functions take plain arrays, so they can be used without a server.
"""
import json
import os
import re

import anndata
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)
import numpy as np  # noqa: E402

_EPOCH_LINE = re.compile(r"\bepoch (\d+)/\d+\s+(.*)$")
_KEY_VALUE = re.compile(r"(\w+)=([-+0-9.eE]+|nan|inf)")


def add_flags(parser):
    parser.add_argument("--model", required=True, help="model to describe")
    parser.add_argument("--version", type=int, default=0, help="model version (0 = newest)")
    parser.add_argument("--data", required=True, help="h5ad of cells in the model's input space")
    parser.add_argument("--layer", default=None, help="AnnData layer to send instead of X")
    parser.add_argument("--covariate_keys", default="", help="comma-separated obs columns the model needs")
    parser.add_argument("--color", default=None, help="obs column that colours the latent plot")
    parser.add_argument("--max_cells", type=int, default=5000, help="cells to encode at most (random subset)")
    parser.add_argument("--perturb", default="", help="key=value[,key=value] selecting the cell population")
    parser.add_argument("--source", default="control", help="condition the --perturb cells are under")
    parser.add_argument("--target_condition", default="stimulated", help="condition to predict")
    parser.add_argument("--top_genes", type=int, default=10, help="responding genes to label")
    parser.add_argument("--normalize_total", type=float, default=1e4,
                        help="target sum for turning counts into the model's log-normalized output space")
    parser.add_argument("--train_log", default=None, help="genailab-train's output")
    parser.add_argument("--eval_json", default=None, help="evaluation results (JSON)")
    parser.add_argument("--out_dir", required=True, help="folder for the PNG files")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cell subsample")


def run(client, args):
    """Makes the figures that args asks for; prints and returns their paths."""
    os.makedirs(args.out_dir, exist_ok=True)
    info = client.get_model(args.model, args.version)
    adata = anndata.read_h5ad(args.data)
    covariate_keys = [key for key in args.covariate_keys.split(",") if key]
    written = []

    sample = adata
    if adata.n_obs > args.max_cells:
        rng = np.random.default_rng(args.seed)
        sample = adata[np.sort(rng.choice(adata.n_obs, args.max_cells, replace=False))]
    latent = client.encode(sample, covariate_keys, model=args.model, version=args.version,
                           layer=args.layer).mean
    labels = sample.obs[args.color].astype(str).to_numpy() if args.color else None
    written.append(latent_figure(latent, labels, os.path.join(args.out_dir, "latent_pca.png"),
                                 title=f"{info.name} v{info.version}: latent space (PCA)", label_name=args.color))

    if args.train_log:
        with open(args.train_log, encoding="utf-8") as log:
            history = parse_training_log(log)
        if not history:
            raise ValueError(f"--train_log: no 'epoch i/n key=value' lines in '{args.train_log}'")
        written.append(training_curves_figure(history, os.path.join(args.out_dir, "training_curves.png")))

    if args.perturb:
        selection = _parse_selection(args.perturb)
        condition_key = info.condition_key or "condition"
        control = _select(adata, {**selection, condition_key: args.source})
        real = _select(adata, {**selection, condition_key: args.target_condition})
        keys = [key for key in covariate_keys if key != condition_key]
        predicted = client.predict_perturbation(control, args.source, args.target_condition, keys,
                                                model=args.model, version=args.version, layer=args.layer)
        to_output = _output_space_transform(info, args.normalize_total)
        genes = list(predicted.var_names)
        written.append(perturbation_figure(
            control_means=_gene_means(to_output(_values(control[:, genes], args.layer))),
            real_means=_gene_means(to_output(_values(real[:, genes], args.layer))),
            predicted_means=_gene_means(np.asarray(predicted.X)),
            gene_names=genes, path=os.path.join(args.out_dir, "perturbation_means.png"),
            top_genes=args.top_genes,
            title=f"{args.perturb}: {args.source} -> {args.target_condition}"))

    if args.eval_json:
        with open(args.eval_json, encoding="utf-8") as results:
            metrics = flatten_numbers(json.load(results))
        if not metrics:
            raise ValueError(f"--eval_json: no numbers in '{args.eval_json}'")
        written.append(metrics_figure(metrics, os.path.join(args.out_dir, "evaluation.png")))

    for path in written:
        print(path)
    return 0


# Figures.

def latent_figure(latent, labels, path, title="latent space (PCA)", label_name=None):
    """Scatter of the first two principal components of `latent` (cells x dims), coloured by `labels`."""
    coordinates, explained = pca_2d(latent)
    figure, axes = plt.subplots(figsize=(6, 5))
    if labels is None:
        axes.scatter(coordinates[:, 0], coordinates[:, 1], s=6, alpha=0.7)
    else:
        for value in sorted(set(labels)):
            mask = labels == value
            axes.scatter(coordinates[mask, 0], coordinates[mask, 1], s=6, alpha=0.7, label=value)
        axes.legend(title=label_name, markerscale=3, fontsize="small", loc="best")
    axes.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    axes.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    axes.set_title(title)
    return _save(figure, path)


def training_curves_figure(history, path):
    """One panel per quantity of `history` ({name: [(epoch, value), ...]}); losses share the first panel."""
    losses = sorted(name for name in history if "loss" in name)
    others = sorted(name for name in history if "loss" not in name)
    panels = ([losses] if losses else []) + [[name] for name in others]
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.5), squeeze=False)
    for axis, names in zip(axes[0], panels):
        for name in names:
            epochs, values = zip(*history[name])
            axis.plot(epochs, values, marker="." if len(epochs) <= 50 else None, label=name)
        values = [value for name in names for _, value in history[name]]
        if len(values) > 1 and min(values) > 0 and max(values) / min(values) > 20:
            axis.set_yscale("log")
        axis.set_xlabel("epoch")
        axis.set_title(", ".join(names))
        if len(names) > 1:
            axis.legend(fontsize="small")
    figure.suptitle("training curves")
    return _save(figure, path)


def perturbation_figure(control_means, real_means, predicted_means, gene_names, path, top_genes=10,
                        title="perturbation"):
    """scGen-style per-gene means, real (x) against predicted (y); labels the `top_genes` genes whose real
    response |real - control| is largest and reports R^2 over all genes and over those."""
    control_means, real_means, predicted_means = (np.asarray(v, dtype=np.float64)
                                                  for v in (control_means, real_means, predicted_means))
    top = np.argsort(-np.abs(real_means - control_means))[:top_genes]
    figure, axes = plt.subplots(figsize=(5.5, 5.5))
    axes.scatter(real_means, predicted_means, s=8, alpha=0.6, color="grey")
    axes.scatter(real_means[top], predicted_means[top], s=14, color="crimson")
    for gene in top:
        axes.annotate(gene_names[gene], (real_means[gene], predicted_means[gene]), fontsize=7,
                      xytext=(3, 3), textcoords="offset points")
    low = min(real_means.min(), predicted_means.min())
    high = max(real_means.max(), predicted_means.max())
    axes.plot([low, high], [low, high], linestyle="--", color="black", linewidth=0.8)
    axes.set_xlabel("real mean expression")
    axes.set_ylabel("predicted mean expression")
    axes.set_title(f"{title}\nR² all genes = {r_squared(real_means, predicted_means):.3f}, "
                   f"top {len(top)} = {r_squared(real_means[top], predicted_means[top]):.3f}", fontsize=9)
    return _save(figure, path)


def metrics_figure(metrics, path):
    """Horizontal bars of {"group.name": value}, one panel (with its own scale) per group, values printed."""
    groups = {}
    for name, value in metrics.items():
        group, _, leaf = name.rpartition(".")
        groups.setdefault(group, {})[leaf] = value
    order = sorted(groups, key=lambda group: (group == "", group))
    heights = [0.35 * len(groups[group]) + 0.9 for group in order]
    figure, axes = plt.subplots(len(order), 1, figsize=(7, sum(heights) + 0.5), squeeze=False,
                                gridspec_kw={"height_ratios": heights})
    for axis, group in zip(axes[:, 0], order):
        names = sorted(groups[group])
        values = [groups[group][name] for name in names]
        axis.barh(range(len(names)), values, color="steelblue")
        axis.set_yticks(range(len(names)), names, fontsize=7)
        for row, value in enumerate(values):
            axis.annotate(f"{value:.4g}", (value, row), xytext=(3, 0), textcoords="offset points",
                          va="center", fontsize=7)
        axis.set_title(group or "evaluation", fontsize=9)
        axis.margins(x=0.15)
    return _save(figure, path)


# Helpers, public for tests and notebooks.

def parse_training_log(lines):
    """{quantity: [(epoch, value), ...]} from genailab-train lines "epoch 3/50 loss=1.2 validation_loss=1.3"."""
    history = {}
    for line in lines:
        match = _EPOCH_LINE.search(line)
        if not match:
            continue
        epoch = int(match.group(1))
        for name, value in _KEY_VALUE.findall(match.group(2)):
            history.setdefault(name, []).append((epoch, float(value)))
    return history


def pca_2d(x):
    """(cells x 2 coordinates, fraction of variance of PC1 and PC2) by SVD of the centred matrix."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    components = np.zeros((x.shape[1], 2))
    components[:, :min(2, vt.shape[0])] = vt[:2].T
    variance = singular ** 2
    explained = np.zeros(2)
    if variance.sum() > 0:
        explained[:min(2, len(variance))] = variance[:2] / variance.sum()
    return centred @ components, explained


def r_squared(x, y):
    """Squared Pearson correlation (0 when either side is constant)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2 or np.std(x) == 0 or np.std(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def flatten_numbers(value, prefix=""):
    """{"a.b.c": number} for every int/float leaf of a JSON value (booleans excluded)."""
    if isinstance(value, bool):
        return {}
    if isinstance(value, (int, float)):
        return {prefix or "value": float(value)}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    flat = {}
    for key, child in items:
        flat.update(flatten_numbers(child, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _parse_selection(text):
    selection = {}
    for part in text.split(","):
        key, separator, value = part.partition("=")
        if not separator or not key:
            raise ValueError(f"--perturb: '{part}' is not key=value")
        selection[key.strip()] = value.strip()
    return selection


def _select(adata, selection):
    mask = np.ones(adata.n_obs, dtype=bool)
    for key, value in selection.items():
        if key not in adata.obs:
            raise ValueError(f"--perturb: '{key}' is not an obs column")
        mask &= (adata.obs[key].astype(str) == value).to_numpy()
    if not mask.any():
        raise ValueError(f"--perturb: no cells with {selection}")
    return adata[mask].copy()


def _values(adata, layer):
    values = adata.X if layer is None else adata.layers[layer]
    return values.toarray() if hasattr(values, "toarray") else np.asarray(values)


def _output_space_transform(info, normalize_total):
    """Maps input-space values to the model's output space (counts -> log1p(normalize_total))."""
    if info.input_space == "counts" and info.output_space == "log_normalized":
        def log_normalize(counts):
            totals = counts.sum(axis=1, keepdims=True)
            return np.log1p(counts / np.where(totals > 0, totals, 1) * normalize_total)
        return log_normalize
    return lambda values: values


def _gene_means(values):
    return np.asarray(values, dtype=np.float64).mean(axis=0)


def _save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
