#!/usr/bin/env bash
# Model benchmark: every model family trained on the same synthetic perturbation task with one cell type's
# response held out (cell_type=HELD_OUT, condition=stimulated never seen in training), then asked to
# predict that cell type's stimulated cells from its control cells. Metrics by genailab-eval (R^2 of
# per-gene means over all genes and the top-100 Wilcoxon genes, MMD, energy distance), next to the
# baselines "no change" and "mean shift in gene space". Sampling speed: DDIM 50 steps and flow matching 10
# steps against 1000-step ancestral DDPM. Writes bench/results/models.{json,md}.
# Usage: bench/models/run.sh   (env: OUT=work folder, EPOCHS_VAE, EPOCHS_ITERATIVE, THREADS, TASK, DATA_SEED)
#   TASK=shared (default): the held-out type's response is the shared program plus a type-specific
#     program no training cell shows; results in bench/results/models.{json,md}.
#   TASK=state_dependent: each cell's response scales with a responsiveness state that a receptor gene
#     program makes visible (data/synthetic.h), and the held-out type's mean responsiveness differs from
#     the others'; results in bench/results/models_state_dependent.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/genailab_bench_models}
HELD_OUT=${HELD_OUT:-type_3}
EPOCHS_VAE=${EPOCHS_VAE:-60}
EPOCHS_ITERATIVE=${EPOCHS_ITERATIVE:-100}
THREADS=${THREADS:-2}
TASK=${TASK:-shared}
case "$TASK" in
  shared) SYNTH_FLAGS=(); RESULTS=bench/results/models ;;
  state_dependent)
    SYNTH_FLAGS=(--responsiveness_genes=10 --responsiveness_type_spread=1.5 --specific_response_genes=5)
    RESULTS=bench/results/models_state_dependent ;;
  *) echo "TASK must be shared or state_dependent, got '$TASK'" >&2; exit 2 ;;
esac
# The dataset's seed (genailab-synth --seed); results of another seed than 1 get a _seed<N> suffix.
DATA_SEED=${DATA_SEED:-1}
if [[ "$DATA_SEED" != 1 ]]; then RESULTS="${RESULTS}_seed${DATA_SEED}"; fi
rm -rf "$OUT" && mkdir -p "$OUT"

bazel build //data:genailab-synth //trainer:genailab-train //eval:genailab-eval \
  //bench/models:genailab-bench-predict 2>&1 | grep -v linux-sandbox | tail -1
BIN=bazel-bin
"$BIN/data/genailab-synth" --out="$OUT/data.h5ad" --seed="$DATA_SEED" ${SYNTH_FLAGS[@]+"${SYNTH_FLAGS[@]}"} >/dev/null

now() { date +%s.%N; }
TRAIN_TIMES="$OUT/train_times.txt"
: > "$TRAIN_TIMES"
train() {  # name, extra flags...
  local name=$1; shift
  local start; start=$(now)
  "$BIN/trainer/genailab-train" --data="$OUT/data.h5ad" --covariate_keys=cell_type,condition \
    --condition_key=condition --holdout="cell_type=$HELD_OUT,condition=stimulated" --repository="$OUT/repo" \
    --model="$name" --threads="$THREADS" --seed=1 "$@" > "$OUT/train_$name.log"
  echo "$name $(/usr/bin/python3 -c "print($(now) - $start)")" >> "$TRAIN_TIMES"
  echo "trained $name"
}
train cvae --model_type=cvae --latent_dim=10 --hidden_dims=128,64 --epochs="$EPOCHS_VAE" --beta=1
train scgen --model_type=vae --covariate_keys= --latent_dim=10 --hidden_dims=128,64 --epochs="$EPOCHS_VAE" --beta=1
train beta_vae --model_type=cvae --latent_dim=10 --hidden_dims=128,64 --epochs="$EPOCHS_VAE" --beta=4
train diffusion --model_type=diffusion --pca_components=50 --hidden_dims=256,256 --epochs="$EPOCHS_ITERATIVE" \
  --lr=2e-3 --noise_schedule=cosine
train latent_diffusion --model_type=diffusion --representation=vae_latent --latent_dim=10 \
  --hidden_dims=256,256 --epochs="$EPOCHS_ITERATIVE" --lr=2e-3 --noise_schedule=cosine
train latent_diffusion_plain_vae --model_type=diffusion --representation=vae_latent --vae_covariates=none \
  --latent_dim=10 --hidden_dims=256,256 --epochs="$EPOCHS_ITERATIVE" --lr=2e-3 --noise_schedule=cosine
train flow --model_type=flow_matching --pca_components=50 --hidden_dims=256,256 --epochs="$EPOCHS_ITERATIVE" \
  --lr=2e-3

TIMINGS="$OUT/timings.jsonl"
: > "$TIMINGS"
predict() {  # label, flags...
  local label=$1; shift
  OMP_NUM_THREADS=$THREADS "$BIN/bench/models/genailab-bench-predict" --data="$OUT/data.h5ad" --held_out="$HELD_OUT" \
    --out="$OUT/pred_$label.h5ad" --timing_out="$TIMINGS" "$@"
  "$BIN/eval/genailab-eval" --real="$OUT/truth.h5ad" --real_filter=condition=stimulated \
    --generated="$OUT/pred_$label.h5ad" --control="$OUT/truth.h5ad" --control_filter=condition=control \
    --top_k=100 --max_cells=500 --out="$OUT/eval_$label.json" > /dev/null
  echo "evaluated $label"
}
predict no_change --method=no_change --truth_out="$OUT/truth.h5ad"
predict mean_shift --method=mean_shift
predict oracle_other_types --method=oracle_other_types
predict cvae --checkpoint="$OUT/repo/cvae/1"
predict scgen --checkpoint="$OUT/repo/scgen/1"
predict beta_vae --checkpoint="$OUT/repo/beta_vae/1"
predict diffusion_ddim50 --checkpoint="$OUT/repo/diffusion/1" --sampler=ddim --steps=50
predict diffusion_ddpm1000 --checkpoint="$OUT/repo/diffusion/1" --sampler=ddpm --steps=1000
predict diffusion_pf_ode_heun25 --checkpoint="$OUT/repo/diffusion/1" --sampler=pf_ode_heun --steps=25
predict latent_diffusion_ddim50 --checkpoint="$OUT/repo/latent_diffusion/1" --sampler=ddim --steps=50
predict latent_diffusion_plain_vae_ddim50 --checkpoint="$OUT/repo/latent_diffusion_plain_vae/1" --sampler=ddim \
  --steps=50
predict flow_euler10 --checkpoint="$OUT/repo/flow/1" --sampler=euler --steps=10
predict flow_heun10 --checkpoint="$OUT/repo/flow/1" --sampler=heun --steps=10

/usr/bin/python3 bench/models/summarize.py "$OUT" "$RESULTS.json" "$RESULTS.md"
cat "$RESULTS.md"
