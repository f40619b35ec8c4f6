#!/usr/bin/python3
"""The Python peer of the serving benchmark: genailab.v1.GenerativeService (Encode and Generate) served by
Debian's python3-grpcio and python3-torch the way a user would write it: the same proto, the same trained
weights (weights.pt read with torch.jit.load, the module's forward rewritten from its parameters as
models/README.md names them), the model's recorded preprocessing, and a grpc.server over a thread pool.

  /usr/bin/python3 bench/serving/python_peer.py --model_dir=REPO/MODEL/VERSION --port_file=/tmp/peer.port
"""
import argparse
import concurrent.futures
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
import grpc

import genailab_protos


class CvaeForward:
    """The VAE / cVAE forward pass (models/vae_module.cc) from the checkpoint's parameters."""

    def __init__(self, model_dir):
        self.manifest = json.load(open(os.path.join(model_dir, "manifest.json")))
        weights = self.manifest.get("weights_file", "weights.pt")
        module = torch.jit.load(os.path.join(model_dir, weights), map_location="cpu")
        self.p = {name: t.detach().clone() for name, t in module.named_parameters()}
        self.genes = list(self.manifest["gene_names"])
        self.covariates = [(c["name"], {v: i for i, v in enumerate(c["values"])}) for c in self.manifest["covariates"]]
        self.conditional = self.manifest.get("model_type", "cvae") == "cvae"
        pre = self.manifest.get("preprocessing", {})
        self.normalize_total = float(pre.get("normalize_total", 0.0) or 0.0)
        self.log1p = bool(pre.get("log1p", False))
        self.likelihood = self.manifest.get("likelihood", "gaussian")
        self.library = float(self.manifest.get("median_library_size", 0.0) or 0.0)
        self.latent_dim = int(self.manifest["latent_dim"])

    def _linears(self, prefix):
        indices = sorted(int(k.split(".")[1]) for k, v in self.p.items()
                         if k.startswith(prefix + ".") and k.endswith(".weight") and v.dim() == 2)
        return indices

    def _mlp(self, prefix, h):
        for i in self._linears(prefix):
            h = F.linear(h, self.p[f"{prefix}.{i}.weight"], self.p[f"{prefix}.{i}.bias"])
            h = F.layer_norm(h, (h.shape[1],), self.p[f"{prefix}.{i + 1}.weight"], self.p[f"{prefix}.{i + 1}.bias"])
            h = F.relu(h)
        return h

    def _with_embeddings(self, h, codes):
        if not self.conditional or not codes:
            return h
        parts = [h] + [F.embedding(c, self.p[f"covariate_embeddings.{k}.weight"]) for k, c in enumerate(codes)]
        return torch.cat(parts, 1)

    def codes(self, columns, n):
        result = []
        for name, index in self.covariates:
            values = columns[name]
            result.append(torch.tensor([index[v] for v in values], dtype=torch.long))
        return result

    @torch.inference_mode()
    def encode(self, x, codes):
        if self.normalize_total > 0:
            x = x / x.sum(1, keepdim=True).clamp_min(1e-8) * self.normalize_total
        if self.log1p:
            x = torch.log1p(x)
        h = self._mlp("encoder", self._with_embeddings(x, codes))
        mean = F.linear(h, self.p["encoder_mean.weight"], self.p["encoder_mean.bias"])
        log_var = F.linear(h, self.p["encoder_log_variance.weight"], self.p["encoder_log_variance.bias"])
        return mean, torch.exp(log_var.clamp(-10.0, 10.0))

    @torch.inference_mode()
    def generate(self, n, codes, seed):
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.latent_dim, generator=generator)
        h = self._mlp("decoder", self._with_embeddings(z, codes))
        out = F.linear(h, self.p["decoder_output.weight"], self.p["decoder_output.bias"])
        if self.likelihood == "negative_binomial":
            out = torch.softmax(out, 1) * self.library
        return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--address", default="127.0.0.1:0")
    parser.add_argument("--port_file", default="")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()

    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pb2, pb2_grpc = genailab_protos.compile_proto(repo_root)
    model = CvaeForward(args.model_dir)
    gene_index = {g: i for i, g in enumerate(model.genes)}

    def matrix_to_tensor(m, context):
        if m.WhichOneof("storage") == "csr":
            dense = np.zeros((m.rows, m.cols), dtype=np.float32)
            indptr = np.asarray(m.csr.indptr)
            for r in range(m.rows):
                lo, hi = indptr[r], indptr[r + 1]
                dense[r, np.asarray(m.csr.indices[lo:hi])] = np.asarray(m.csr.data[lo:hi], dtype=np.float32)
        else:
            dense = np.asarray(m.dense.values, dtype=np.float32).reshape(m.rows, m.cols)
        names = list(m.column_names)
        if names != model.genes:
            order = [gene_index.get(g, -1) for g in names]
            if min(order) < 0 or len(set(order)) != len(model.genes):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "cells: genes do not match the model's")
            reordered = np.zeros((m.rows, len(model.genes)), dtype=np.float32)
            reordered[:, order] = dense
            dense = reordered
        return torch.from_numpy(dense)

    def tensor_to_matrix(t, names, out):
        out.rows, out.cols = t.shape
        out.column_names.extend(names)
        out.dense.values.extend(t.numpy().ravel().tolist())

    class Servicer(pb2_grpc.GenerativeServiceServicer):
        def Encode(self, request, context):
            x = matrix_to_tensor(request.cells, context)
            columns = {c.name: list(c.values) for c in request.covariates}
            try:
                codes = model.codes(columns, x.shape[0])
            except KeyError as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"covariates: {e}")
            mean, var = model.encode(x, codes)
            response = pb2.EncodeResponse()
            response.model.name = request.model.name
            names = [] if request.omit_column_names else [f"z{i}" for i in range(model.latent_dim)]
            tensor_to_matrix(mean, names, response.latent_mean)
            tensor_to_matrix(var, names, response.latent_variance)
            return response

        def Generate(self, request, context):
            outputs = []
            for group in request.groups:
                columns = {name: [value] * group.n_cells for name, value in group.covariates.items()}
                try:
                    codes = model.codes(columns, group.n_cells)
                except KeyError as e:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"covariates: {e}")
                outputs.append(model.generate(group.n_cells, codes, request.seed))
            response = pb2.GenerateResponse()
            response.model.name = request.model.name
            tensor_to_matrix(torch.cat(outputs, 0), [] if request.omit_column_names else model.genes, response.cells)
            return response

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=args.workers),
                         options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
    pb2_grpc.add_GenerativeServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port(args.address)
    server.start()
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.rename(args.port_file + ".tmp", args.port_file)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
