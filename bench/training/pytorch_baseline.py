#!/usr/bin/python3
"""The PyTorch side of the training benchmark: the genailab VAE (models/vae_module.h: Linear, LayerNorm,
ReLU, Dropout per hidden layer; Gaussian likelihood with a learned per-gene log-variance; KL warm-up; Adam;
gradient-norm clipping at 100) trained the way a PyTorch user would write it, from the h5ad file to a saved
checkpoint. Prints one JSON object: per-epoch cells/s and the whole path's seconds."""
import argparse
import json
import math
import time

import anndata
import numpy as np
import torch
from torch import nn


def mlp(inputs, widths, dropout):
    layers = []
    for width in widths:
        layers += [nn.Linear(inputs, width), nn.LayerNorm(width), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        inputs = width
    return nn.Sequential(*layers)


class Vae(nn.Module):
    def __init__(self, n_genes, hidden, latent, dropout):
        super().__init__()
        self.encoder = mlp(n_genes, hidden, dropout)
        self.encoder_mean = nn.Linear(hidden[-1], latent)
        self.encoder_log_variance = nn.Linear(hidden[-1], latent)
        self.decoder = mlp(latent, list(reversed(hidden)), dropout)
        self.decoder_output = nn.Linear(hidden[0], n_genes)
        self.gene_log_variance = nn.Parameter(torch.zeros(n_genes))

    def loss(self, x, kl_weight):
        h = self.encoder(x)
        mean = self.encoder_mean(h)
        log_variance = self.encoder_log_variance(h).clamp(-10, 10)
        z = mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean)
        out = self.decoder_output(self.decoder(z))
        gene_lv = self.gene_log_variance.clamp(-10, 10)
        log_likelihood = -0.5 * (math.log(2 * math.pi) + gene_lv + (x - out).pow(2) * torch.exp(-gene_lv))
        reconstruction = -log_likelihood.sum(-1).mean()
        kl = (-0.5 * (1 + log_variance - mean.pow(2) - torch.exp(log_variance))).sum(-1).mean()
        return reconstruction + kl_weight * kl


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True, help="checkpoint path (torch.save of the state_dict)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hidden_dims", default="128,64")
    parser.add_argument("--latent_dim", type=int, default=10)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--kl_warmup_epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    adata = anndata.read_h5ad(args.data)
    counts = np.asarray(adata.X.todense() if hasattr(adata.X, "todense") else adata.X, dtype=np.float32)
    x = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4).astype(np.float32)
    x = torch.from_numpy(x)
    model = Vae(x.shape[1], [int(d) for d in args.hidden_dims.split(",")], args.latent_dim, args.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    n = x.shape[0]
    steps = (n + args.batch_size - 1) // args.batch_size
    cells_per_second = []
    for epoch in range(1, args.epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        order = torch.randperm(n)
        total = 0.0
        for step in range(steps):
            index = order[step * args.batch_size:(step + 1) * args.batch_size]
            kl_weight = min(1.0, (epoch - 1 + step / steps) / args.kl_warmup_epochs) if args.kl_warmup_epochs else 1.0
            loss = model.loss(x[index], kl_weight)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
            optimizer.step()
            total += loss.item() * len(index)
        cells_per_second.append(n / (time.perf_counter() - epoch_started))
    torch.save(model.state_dict(), args.out)
    print(json.dumps({"cells_per_second": cells_per_second, "loss": total / n,
                      "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
