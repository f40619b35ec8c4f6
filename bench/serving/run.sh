#!/usr/bin/env bash
# The serving benchmark in one go: builds, trains a small cVAE on the synthetic dataset, starts
# genailab-server, the no-op gRPC server and the Python peer on loopback, drives each with serving_load,
# runs the in-process limit, and writes bench/results/serving.json and bench/results/serving.md.
#
#   bench/serving/run.sh [--duration_s=6] [--epochs=3] [--rounds=3]
#
# Every figure is reported as a ratio measured in the same run (absolute times drift on shared machines):
# the measurements are repeated in --rounds interleaved rounds, each ratio is taken within a round, and the
# summary gives the median over rounds and their range.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
duration=6
epochs=3
rounds=3
for arg in "$@"; do
  case "$arg" in
    --duration_s=*) duration="${arg#*=}" ;;
    --epochs=*) epochs="${arg#*=}" ;;
    --rounds=*) rounds="${arg#*=}" ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3

echo "== building"
bazel build //server:genailab-server //trainer:genailab-train //data:genailab-synth \
  //bench/serving:serving_load //bench/serving:serving_noop //bench/serving:serving_limit 2>&1 |
  grep -v "linux-sandbox" | grep -vE "^(INFO|Loading|Analyzing)" || true
bin=$(bazel info bazel-bin 2>/dev/null)

work=$(mktemp -d "${TMPDIR:-/tmp}/genailab_serving_bench.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== training a small cVAE on the synthetic dataset ($epochs epochs)"
"$bin/data/genailab-synth" --out="$work/synthetic.h5ad" --seed=0 >/dev/null
"$bin/trainer/genailab-train" --data="$work/synthetic.h5ad" --model=bench_cvae --repository="$work/repo" \
  --model_type=cvae --covariate_keys=cell_type,condition,batch --condition_key=condition \
  --epochs="$epochs" --seed=0 >"$work/train.log" 2>&1
model_dir=$(dirname "$(find "$work/repo/bench_cvae" -mindepth 2 -maxdepth 2 -name manifest.json | head -1)")

wait_port() {  # file -> port
  for _ in $(seq 1 600); do
    if [[ -s "$1" ]]; then
      "$python" -c 'import json,sys; t=open(sys.argv[1]).read().strip(); print(json.loads(t)["grpc_port"] if t.startswith("{") else t)' "$1"
      return 0
    fi
    sleep 0.1
  done
  echo "run.sh: no port in $1" >&2
  return 1
}

echo "== starting servers on loopback"
declare -A pid_of  # label -> server pid, whose CPU time serving_load reports
"$bin/server/genailab-server" --repository="$work/repo" --device=cpu --grpc_address=127.0.0.1:0 \
  --metrics_address= --port_file="$work/genailab.port" --log_level=warn &
pids+=($!)
pid_of[genailab]=$!
"$bin/bench/serving/serving_noop" --api=sync --port_file="$work/noop.port" &
pids+=($!)
pid_of[noop]=$!
"$bin/bench/serving/serving_noop" --api=callback --port_file="$work/noop_callback.port" &
pids+=($!)
pid_of[noop_callback]=$!
"$python" bench/serving/python_peer.py --model_dir="$model_dir" --port_file="$work/python.port" &
pids+=($!)
pid_of[python]=$!
genailab="127.0.0.1:$(wait_port "$work/genailab.port")"
noop="127.0.0.1:$(wait_port "$work/noop.port")"
noop_callback="127.0.0.1:$(wait_port "$work/noop_callback.port")"
peer="127.0.0.1:$(wait_port "$work/python.port")"
# The same servers, loaded with omit_column_names set (responses without gene / latent names).
pid_of[genailab_lean]=${pid_of[genailab]}
pid_of[python_lean]=${pid_of[python]}
# The same server through its KServe v2 endpoint (ModelInfer with the same requests).
pid_of[genailab_v2]=${pid_of[genailab]}

results="$work/results.jsonl"
round=1
record() {  # stdin: one JSON line -> the results, with the round it belongs to
  "$python" -c 'import json,sys; r = json.loads(sys.stdin.read()); r["round"] = int(sys.argv[1]); print(json.dumps(r))' \
    "$round" | tee -a "$results"
}
load() {  # label target rpc cells extra-flags...
  local label=$1 target=$2 rpc=$3 cells=$4
  shift 4
  "$bin/bench/serving/serving_load" --target="$target" --info_target="$genailab" --model=bench_cvae \
    --rpc="$rpc" --cells="$cells" --duration_s="$duration" --warmup_s=1 --label="$label" \
    --cpu_pids="${pid_of[$label]}" "$@" | record
}

for round in $(seq 1 "$rounds"); do
for rpc in encode generate; do
  echo "== round $round/$rounds"
  echo "== $rpc: 1-cell requests, closed loop at concurrency 64"
  load genailab "$genailab" "$rpc" 1 --concurrency=64
  load noop "$noop" "$rpc" 1 --concurrency=64
  load noop_callback "$noop_callback" "$rpc" 1 --concurrency=64
  load python "$peer" "$rpc" 1 --concurrency=64
  echo "== $rpc: 1-cell requests with omit_column_names, closed loop at concurrency 64"
  load genailab_lean "$genailab" "$rpc" 1 --concurrency=64 --omit_column_names
  load python_lean "$peer" "$rpc" 1 --concurrency=64 --omit_column_names
  echo "== $rpc: 1-cell requests as KServe v2 ModelInfer calls, closed loop at concurrency 64"
  load genailab_v2 "$genailab" "v2_$rpc" 1 --concurrency=64
  echo "== $rpc: 1024-cell requests, closed loop at concurrency 4, and the in-process limit on 2 threads"
  load genailab "$genailab" "$rpc" 1024 --concurrency=4
  load python "$peer" "$rpc" 1024 --concurrency=4
  "$bin/bench/serving/serving_limit" --model_dir="$model_dir" --rpc="$rpc" --cells=1024 --threads=2 \
    --duration_s="$duration" --warmup_s=1 --label=inprocess | record
  echo "== $rpc: 1-cell requests, open loop at half of genailab's saturated rate, against genailab and the no-op"
  saturated=$("$python" -c 'import json,sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if (r["label"] == "genailab" and r["rpc"] == sys.argv[2] and r["cells"] == 1 and r["mode"] == "closed"
            and r["round"] == int(sys.argv[3])):
        print(r["requests_per_second"])' "$results" "$rpc" "$round" | tail -1)
  half=$("$python" -c "print(max(1.0, float('$saturated') / 2))")
  load genailab "$genailab" "$rpc" 1 --rate="$half"
  # The same arrival rate against the no-op server: the tail that the machine and gRPC alone give.
  load noop_callback "$noop_callback" "$rpc" 1 --rate="$half"
done
done

echo "== GenerateStream: 400,000 cells read by a Python pipeline, three times"
"$python" bench/serving/stream_reader.py --target="$genailab" --model=bench_cvae --cells=400000 --reads=3 \
  --cpu_pid="${pid_of[genailab]}" | record

mkdir -p bench/results
"$python" bench/serving/summarize.py "$results" bench/results/serving.json bench/results/serving.md
cat bench/results/serving.md
