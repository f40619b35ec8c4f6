#!/usr/bin/env bash
# Two builds of genailab-server on the same machine, alternating: closed loop at --concurrency and, unless
# --rate=0, open loop at a fixed rate. For telling a change to the request path from a change in the
# machine, which moves both builds alike.
#
#   git worktree add /tmp/old <commit> && (cd /tmp/old && bazel build //server:genailab-server //trainer:genailab-train)
#   bench/serving/compare_servers.sh --old_bin=/tmp/old/bazel-bin [--rate=2000] [--rounds=2] [--out=FILE.jsonl]
#       [--rpcs="encode generate"] [--cells=1] [--concurrency=64] [--genes=200] [--stream_cells=0] [--limit=RPC]
#       [--omit_column_names]
#
# --rpcs: the RPCs to load (empty: none): encode, generate, or v2_encode / v2_generate (the same requests as
# KServe v2 ModelInfer calls). --cells: cells per request. --genes: genes of the synthetic training data.
# --stream_cells=N (> 0): each round also reads a GenerateStream of N cells three times with
# stream_reader.py (a Python pipeline) from each build. --limit=encode|generate|decode|predict: each round
# also runs each build's in-process limit (serving_limit, which --old_bin must then hold) on --cells-cell
# batches.
# --omit_column_names: the requests ask for responses without gene or latent names.
#
# Each build serves a model trained by its own genailab-train on the same data; this checkout's
# serving_load drives both and reports each server's CPU time. Prints one JSON line per measurement (label
# old / new) and writes them to --out, then a summary: per RPC, load and build, requests/s and the server's
# CPU microseconds per request, round by round.
set -uo pipefail
cd "$(dirname "$0")/../.."
old_bin="" rate=2000 rounds=2 out=bench/results/serving_old_vs_new.jsonl rpcs="encode generate" stream_cells=0
cells=1 concurrency=64 genes=200 limit="" omit=()
for arg in "$@"; do
  case "$arg" in
    --old_bin=*) old_bin="${arg#*=}" ;;
    --rate=*) rate="${arg#*=}" ;;
    --rounds=*) rounds="${arg#*=}" ;;
    --out=*) out="${arg#*=}" ;;
    --rpcs=*) rpcs="${arg#*=}" ;;
    --stream_cells=*) stream_cells="${arg#*=}" ;;
    --cells=*) cells="${arg#*=}" ;;
    --concurrency=*) concurrency="${arg#*=}" ;;
    --genes=*) genes="${arg#*=}" ;;
    --limit=*) limit="${arg#*=}" ;;
    --omit_column_names) omit=(--omit_column_names) ;;
    *) echo "compare_servers.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
[[ -x "$old_bin/server/genailab-server" && -x "$old_bin/trainer/genailab-train" ]] ||
  { echo "compare_servers.sh: --old_bin must hold server/genailab-server and trainer/genailab-train" >&2; exit 2; }
[[ -z "$limit" || -x "$old_bin/bench/serving/serving_limit" ]] ||
  { echo "compare_servers.sh: --limit needs --old_bin to hold bench/serving/serving_limit" >&2; exit 2; }
bazel build //server:genailab-server //trainer:genailab-train //data:genailab-synth //bench/serving:serving_load \
  //bench/serving:serving_limit 2>&1 | grep -E "ERROR|error:" && exit 1
new_bin=$(bazel info bazel-bin 2>/dev/null)
work=$(mktemp -d "${TMPDIR:-/tmp}/genailab_compare.XXXXXX")
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$new_bin/data/genailab-synth" --out="$work/s.h5ad" --seed=0 --genes="$genes" >/dev/null
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
    loads=(--concurrency="$concurrency")
    [[ "$rate" != 0 ]] && loads+=(--rate="$rate")
    for rpc in $rpcs; do
      for load in "${loads[@]}"; do
        "$new_bin/bench/serving/serving_load" --target="127.0.0.1:$port" --info_target="127.0.0.1:$port" \
          --model=bench_cvae --rpc="$rpc" --cells="$cells" --duration_s=5 --warmup_s=1 --label="$which" \
          --cpu_pids="$pid" "$load" "${omit[@]}" |
          record
      done
    done
    if (( stream_cells > 0 )); then
      /usr/bin/python3 bench/serving/stream_reader.py --target="127.0.0.1:$port" --model=bench_cvae \
        --cells="$stream_cells" --reads=3 --cpu_pid="$pid" --label="$which" |
        record
    fi
    kill "$pid"; wait "$pid" 2>/dev/null; pid=""
    if [[ -n "$limit" ]]; then
      model_dir=$(dirname "$(find "$work/repo_$which/bench_cvae" -mindepth 2 -maxdepth 2 -name manifest.json | head -1)")
      "$bin/bench/serving/serving_limit" --model_dir="$model_dir" --rpc="$limit" --cells="$cells" --threads=1 \
        --duration_s=3 --warmup_s=1 --label="$which" | record
    fi
  done
done
echo "== summary: requests/s, and the server's CPU us per request (in-process: per batch), round by round"
/usr/bin/python3 - "$out" <<'PY'
import collections, json, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    cpu = {k: v for k, v in r.get("cpu_seconds", {}).items() if k != "self" or r["mode"] == "inprocess"}
    done = r["requests_per_second"] * r.get("seconds", 0)
    us = f"{1e6 * next(iter(cpu.values())) / done:.1f}" if cpu and done else "-"
    key = (r["rpc"] + (" lean" if r.get("omit_column_names") else ""), r["cells"], r["mode"], r["label"])
    rows[key].append(f"{r['requests_per_second']:.0f} ({us})")
for (rpc, cells, mode, label), values in sorted(rows.items()):
    print(f"{rpc:17} {cells:>7} cells {mode:9} {label:4} " + "  ".join(values))
PY
