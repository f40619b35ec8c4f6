#!/usr/bin/env bash
# Memory across load-serve-unload cycles: builds, trains a small cVAE on the synthetic dataset, starts
# genailab-server on loopback, and runs bench/reload/reload_memory.py: --cycles times LoadModel, Encode
# and Generate requests, UnloadModel, then the server's RSS (/proc/<pid>/status VmRSS and its
# process_resident_memory_bytes metric). Writes bench/results/reload_memory.json and prints one line.
#
#   bench/reload/run.sh [--cycles=50] [--requests=10] [--cells=256] [--epochs=2] [--out=FILE.json]
#                       [--heaptrack] [server flags...]
#
# Arguments starting with --server_ are handed to genailab-server without the prefix, e.g.
# --server_instances_per_device=2. --heaptrack runs the server under heaptrack, stops it with SIGTERM
# after the cycles (a clean exit, so that everything freed is seen freed) and adds to the JSON the bytes
# still allocated at exit (heaptrack_print's "total memory leaked"); RSS figures under heaptrack include
# its own overhead. bench/reload/leak_check.sh compares two such runs of different lengths.
set -euo pipefail
cd "$(dirname "$0")/../.."
cycles=50
requests=10
cells=256
epochs=2
out=bench/results/reload_memory.json
heaptrack=0
server_flags=()
for arg in "$@"; do
  case "$arg" in
    --cycles=*) cycles="${arg#*=}" ;;
    --requests=*) requests="${arg#*=}" ;;
    --cells=*) cells="${arg#*=}" ;;
    --epochs=*) epochs="${arg#*=}" ;;
    --out=*) out="${arg#*=}" ;;
    --heaptrack) heaptrack=1 ;;
    --server_*) server_flags+=("--${arg#--server_}") ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3

echo "== building"
bazel build //server:genailab-server //trainer:genailab-train //data:genailab-synth \
  //client/python:generated_protos 2>&1 | grep -v "linux-sandbox" | grep -vE "^(INFO|Loading|Analyzing)" || true
bin=$(bazel info bazel-bin 2>/dev/null)

work=$(mktemp -d "${TMPDIR:-/tmp}/genailab_reload_bench.XXXXXX")
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The Python client: sources plus the generated protos, in one package folder.
mkdir -p "$work/py"
cp -r client/python/genailab "$work/py/"
cp -r "$bin/client/python/genailab/v1" "$work/py/genailab/"
chmod -R u+w "$work/py"

echo "== training a small cVAE on the synthetic dataset ($epochs epochs)"
"$bin/data/genailab-synth" --out="$work/synthetic.h5ad" --seed=0 >/dev/null
"$bin/trainer/genailab-train" --data="$work/synthetic.h5ad" --model=reload_cvae --repository="$work/repo" \
  --model_type=cvae --covariate_keys=cell_type,condition,batch --condition_key=condition \
  --epochs="$epochs" --seed=0 >"$work/train.log" 2>&1

echo "== starting genailab-server on loopback"
launcher=()
if (( heaptrack )); then
  command -v heaptrack >/dev/null || { echo "run.sh: --heaptrack needs Debian's heaptrack (apt-get install heaptrack)" >&2; exit 2; }
  launcher=(heaptrack -o "$work/heaptrack")
fi
"${launcher[@]}" "$bin/server/genailab-server" --repository="$work/repo" --device=cpu --grpc_address=127.0.0.1:0 \
  --metrics_address=127.0.0.1:0 --port_file="$work/ports.json" --log_level=warn "${server_flags[@]}" &
server_pid=$!
launcher_pid=$server_pid
for _ in $(seq 1 600); do [[ -s "$work/ports.json" ]] && break; sleep 0.1; done
[[ -s "$work/ports.json" ]] || { echo "run.sh: the server wrote no port file" >&2; exit 1; }
if (( heaptrack )); then
  # heaptrack's script starts the server as its child: find the process that is genailab-server.
  server_pid=
  for pid in $(pgrep -f -- "--port_file=$work/ports.json"); do
    [[ "$(readlink "/proc/$pid/exe")" == */genailab-server ]] && server_pid=$pid
  done
  [[ -n "$server_pid" ]] || { echo "run.sh: no genailab-server process under heaptrack" >&2; exit 1; }
fi
port() { "$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/ports.json" "$1"; }

echo "== $cycles load-serve-unload cycles ($requests Encode + $requests Generate of $cells cells each)"
mkdir -p "$(dirname "$out")"
PYTHONPATH="$work/py" "$python" bench/reload/reload_memory.py --target="127.0.0.1:$(port grpc_port)" \
  --metrics_port="$(port metrics_port)" --pid="$server_pid" --model=reload_cvae --data="$work/synthetic.h5ad" \
  --cycles="$cycles" --requests="$requests" --cells="$cells" --out="$out"

if (( heaptrack )); then
  echo "== stopping the server (SIGTERM) and reading heaptrack's record"
  kill -TERM "$server_pid"
  wait "$launcher_pid" || { echo "run.sh: the server under heaptrack did not exit cleanly" >&2; exit 1; }
  server_pid=
  record=$(ls "$work"/heaptrack.* | head -1)
  heaptrack_print --print-leaks=1 --print-peaks=0 --print-allocators=0 --print-temporary=0 -f "$record" \
    >"$work/heaptrack.txt" 2>&1
  cp "$work/heaptrack.txt" "${out%.json}.heaptrack.txt"
  # The same leaks per call stack in exact bytes (the report rounds to 3-4 digits).
  heaptrack_print --print-leaks=0 --print-peaks=0 --print-allocators=0 --print-temporary=0 \
    --flamegraph-cost-type=leaked -F "$work/leaked_stacks.txt" -f "$record" >/dev/null 2>&1
  "$python" bench/reload/heaptrack_leaks.py "$work/heaptrack.txt" "$work/leaked_stacks.txt" "$out"
fi
