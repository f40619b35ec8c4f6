#!/usr/bin/env bash
# Two builds of genailab-server on the same machine, alternating, on 1-cell Encode and Generate: closed loop
# at concurrency 64 and open loop at a fixed rate. For telling a change to the request path from a change
# in the machine, which moves both builds alike.
#
#   git worktree add /tmp/old <commit> && (cd /tmp/old && bazel build //server:genailab-server //trainer:genailab-train)
#   bench/serving/compare_servers.sh --old_bin=/tmp/old/bazel-bin [--rate=2000] [--rounds=2] [--out=FILE.jsonl]
#       [--rpcs="encode generate"] [--stream_cells=0]
#
# --rpcs: the unary RPCs to load (empty: none). --stream_cells=N (> 0): each round also reads a GenerateStream
# of N cells three times with stream_reader.py (a Python pipeline) from each build.
#
# Each build serves a model trained by its own genailab-train on the same data; this checkout's
# serving_load drives both. Prints one JSON line per measurement (label old / new) and writes them to --out.
set -uo pipefail
cd "$(dirname "$0")/../.."
old_bin="" rate=2000 rounds=2 out=bench/results/serving_old_vs_new.jsonl rpcs="encode generate" stream_cells=0
for arg in "$@"; do
  case "$arg" in
    --old_bin=*) old_bin="${arg#*=}" ;;
    --rate=*) rate="${arg#*=}" ;;
    --rounds=*) rounds="${arg#*=}" ;;
    --out=*) out="${arg#*=}" ;;
    --rpcs=*) rpcs="${arg#*=}" ;;
    --stream_cells=*) stream_cells="${arg#*=}" ;;
    *) echo "compare_servers.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
[[ -x "$old_bin/server/genailab-server" && -x "$old_bin/trainer/genailab-train" ]] ||
  { echo "compare_servers.sh: --old_bin must hold server/genailab-server and trainer/genailab-train" >&2; exit 2; }
bazel build //server:genailab-server //trainer:genailab-train //data:genailab-synth //bench/serving:serving_load \
  2>&1 | grep -E "ERROR|error:" && exit 1
new_bin=$(bazel info bazel-bin 2>/dev/null)
work=$(mktemp -d "${TMPDIR:-/tmp}/genailab_compare.XXXXXX")
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$new_bin/data/genailab-synth" --out="$work/s.h5ad" --seed=0 >/dev/null
for which in old new; do
  bin=$old_bin; [[ $which == new ]] && bin=$new_bin
  "$bin/trainer/genailab-train" --data="$work/s.h5ad" --model=bench_cvae --repository="$work/repo_$which" \
    --model_type=cvae --covariate_keys=cell_type,condition,batch --condition_key=condition --epochs=3 --seed=0 \
    >"$work/train_$which.log" 2>&1 || { echo "training with the $which build failed" >&2; exit 1; }
done
mkdir -p "$(dirname "$out")"
: > "$out"
record() {  # stdin: one JSON line -> $out and stdout, with the round it belongs to
  /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); r["round"]=int(sys.argv[1]); print(json.dumps(r))' \
    "$round" | tee -a "$out"
}
for round in $(seq 1 "$rounds"); do
  for which in old new; do
    bin=$old_bin; [[ $which == new ]] && bin=$new_bin
    rm -f "$work/port"
    "$bin/server/genailab-server" --repository="$work/repo_$which" --grpc_address=127.0.0.1:0 --metrics_address= \
      --port_file="$work/port" --log_level=warn --device=cpu &
    pid=$!
    for _ in $(seq 1 300); do [[ -s "$work/port" ]] && break; sleep 0.1; done
    port=$(/usr/bin/python3 -c 'import json,sys; t=open(sys.argv[1]).read().strip(); print(json.loads(t)["grpc_port"] if t.startswith("{") else t)' "$work/port")
    for rpc in $rpcs; do
      for load in --concurrency=64 --rate="$rate"; do
        "$new_bin/bench/serving/serving_load" --target="127.0.0.1:$port" --info_target="127.0.0.1:$port" \
          --model=bench_cvae --rpc="$rpc" --cells=1 --duration_s=5 --warmup_s=1 --label="$which" "$load" |
          record
      done
    done
    if (( stream_cells > 0 )); then
      /usr/bin/python3 bench/serving/stream_reader.py --target="127.0.0.1:$port" --model=bench_cvae \
        --cells="$stream_cells" --reads=3 --cpu_pid="$pid" --label="$which" |
        record
    fi
    kill "$pid"; wait "$pid" 2>/dev/null; pid=""
  done
done
