#!/usr/bin/env bash
# Latent encoding quality on the real PBMC dataset (../shared/data/pbmc68k_reduced.h5ad): trains a cVAE
# conditioned on bulk_labels and a plain VAE from the command line, serves them, encodes every cell with
# `genailab encode`, and scores 15-nearest-neighbour bulk_labels accuracy (5-fold stratified) of each
# embedding next to a 10-dimensional PCA of the same matrix (raw/X, log-normalized).
#
#   bench/pbmc_embedding.sh [path/to/pbmc68k_reduced.h5ad]    -> bench/results/pbmc_knn.json
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
data="${1:-$root/../shared/data/pbmc68k_reduced.h5ad}"
[[ -f "$data" ]] || { echo "pbmc_embedding.sh: $data not found" >&2; exit 1; }
data=$(realpath "$data")

bash scripts/install_deps.sh
bazel build //server:genailab-server //trainer:genailab-train //client:genailab 2>&1 | grep -E "ERROR|error:" || true
bin="$root/bazel-bin"
work=$(mktemp -d)
trap 'kill "$server_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

train_flags=(--data="$data" --layer=raw/X --repository="$work/models" --epochs=100 --latent_dim=10
             --hidden_dims=128 --seed=0 --batch_size=64 --kl_warmup_epochs=20)
"$bin/trainer/genailab-train" "${train_flags[@]}" --model=pbmc_cvae --model_type=cvae \
  --covariate_keys=bulk_labels | tail -2
"$bin/trainer/genailab-train" "${train_flags[@]}" --model=pbmc_vae --model_type=vae | tail -2

"$bin/server/genailab-server" --repository="$work/models" --grpc_address=127.0.0.1:0 --metrics_address= \
  --port_file="$work/ports.json" --device=cpu 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do [[ -s "$work/ports.json" ]] && break; sleep 0.1; done
port=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['grpc_port'])" "$work/ports.json")

"$bin/client/genailab" encode --server="127.0.0.1:$port" --model=pbmc_cvae --in="$data" --layer=raw/X \
  --covariate_keys=bulk_labels --out="$work/cvae.h5ad"
"$bin/client/genailab" encode --server="127.0.0.1:$port" --model=pbmc_vae --in="$data" --layer=raw/X \
  --out="$work/vae.h5ad"

mkdir -p bench/results
/usr/bin/python3 bench/knn_accuracy.py --data="$data" --layer=raw/X --label=bulk_labels \
  --embedding="genailab_cvae(bulk_labels)=$work/cvae.h5ad:X_genailab" \
  --embedding="genailab_vae=$work/vae.h5ad:X_genailab" --out=bench/results/pbmc_knn.json
