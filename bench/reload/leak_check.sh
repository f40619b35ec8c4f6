#!/usr/bin/env bash
# Is anything left behind per load-serve-unload cycle? Runs bench/reload/run.sh under heaptrack twice, with
# --short and --long cycles (defaults 10 and 60), and compares the bytes still allocated when the server
# exits after SIGTERM. A model, a batcher or a metric series kept alive by each cycle would add to the
# long run's figure in proportion to the extra cycles; LibTorch's and the other libraries' static state
# is the same in both.
#
#   bench/reload/leak_check.sh [--short=10] [--long=60] [run.sh flags...]
#
# Writes bench/results/reload_leaks_<cycles>.json (with the heaptrack_print report beside each) and prints
# one line per run and the difference.
set -euo pipefail
cd "$(dirname "$0")/../.."
short=10
long=60
flags=()
for arg in "$@"; do
  case "$arg" in
    --short=*) short="${arg#*=}" ;;
    --long=*) long="${arg#*=}" ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) flags+=("$arg") ;;
  esac
done
for cycles in "$short" "$long"; do
  bench/reload/run.sh --heaptrack --cycles="$cycles" --out="bench/results/reload_leaks_$cycles.json" "${flags[@]}"
done
/usr/bin/python3 - "bench/results/reload_leaks_$short.json" "bench/results/reload_leaks_$long.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
extra = b["cycles"] - a["cycles"]
diff = b["heaptrack_leaked_bytes"] - a["heaptrack_leaked_bytes"]
print(f"leak check: still allocated at exit after {a['cycles']} cycles {a['heaptrack_leaked_bytes']} bytes, after "
      f"{b['cycles']} cycles {b['heaptrack_leaked_bytes']} bytes: {diff:+d} bytes over {extra} more cycles "
      f"({diff / extra:+.1f} bytes/cycle)")
PY
