#!/usr/bin/env bash
# Quick start: installs what is missing, builds, trains the default model on the built-in synthetic dataset
# if the model repository has no model yet, then serves the repository in the foreground (Ctrl-C stops).
#
#   scripts/up.sh [--grpc_port=50051] [--metrics_port=9464] [--repository=var/models] [--device=auto]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

grpc_port=50051
metrics_port=9464
repository="$root/var/models"
device=auto
for arg in "$@"; do
  case "$arg" in
    --grpc_port=*) grpc_port="${arg#*=}" ;;
    --metrics_port=*) metrics_port="${arg#*=}" ;;
    --repository=*) repository="${arg#*=}" ;;
    --device=*) device="${arg#*=}" ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "up.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

bash scripts/install_deps.sh
bazel build //server:genailab-server //trainer:genailab-train //data:genailab-synth //client:genailab 2>&1 |
  grep -v "linux-sandbox" | grep -vE "^(INFO|Loading|Analyzing)" || true
bin="$root/bazel-bin"
for tool in server/genailab-server trainer/genailab-train data/genailab-synth client/genailab; do
  [[ -x "$bin/$tool" ]] || { echo "up.sh: build failed ($tool missing)" >&2; exit 1; }
done

mkdir -p "$repository"
if ! find "$repository" -mindepth 3 -maxdepth 3 -name manifest.json | grep -q .; then
  data="$root/var/data/synthetic.h5ad"
  mkdir -p "$(dirname "$data")"
  echo "== no model in $repository: generating the synthetic dataset and training the default model"
  "$bin/data/genailab-synth" --out="$data" --seed=0
  "$bin/trainer/genailab-train" --data="$data" --model=synthetic_cvae --repository="$repository" \
    --model_type=cvae --covariate_keys=cell_type,condition,batch --condition_key=condition \
    --holdout="cell_type=type_3,condition=stimulated" --epochs=40 --seed=0
fi

cat <<EOM
== serving $repository on 127.0.0.1:$grpc_port (metrics: http://127.0.0.1:$metrics_port/metrics); Ctrl-C stops
   In another terminal:
     bazel-bin/client/genailab list --server=127.0.0.1:$grpc_port
     bazel-bin/client/genailab info --server=127.0.0.1:$grpc_port --model=synthetic_cvae
     bazel-bin/client/genailab generate --server=127.0.0.1:$grpc_port --model=synthetic_cvae \\
         --covariates="cell_type=type_3,condition=stimulated,batch=batch_0" --n=100 --out=/tmp/generated.h5ad
     bazel-bin/client/genailab predict --server=127.0.0.1:$grpc_port --model=synthetic_cvae \\
         --in=var/data/synthetic.h5ad --filter="cell_type=type_3,condition=control" \\
         --covariate_keys=cell_type,batch --source=control --target=stimulated --out=/tmp/predicted.h5ad
     curl -s http://127.0.0.1:$metrics_port/metrics | grep genailab_
EOM
exec "$bin/server/genailab-server" --repository="$repository" --device="$device" \
  --grpc_address="127.0.0.1:$grpc_port" --metrics_address="127.0.0.1:$metrics_port"
