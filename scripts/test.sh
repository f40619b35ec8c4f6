#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test. Ends with one line "N passed, N failed"
# (counted from bazel's per-target results) and leaves no Bazel server running.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh || exit 1

test_env=()
shared_dir="$(cd .. && pwd)/shared"
if [[ -d "$shared_dir/data" ]]; then
  test_env+=("--test_env=GENAILAB_SHARED_DIR=$shared_dir")
else
  echo "genailab: $shared_dir not found; tests that read the shared dataset will skip" >&2
fi

log=$(mktemp)
bazel test //... --keep_going "${test_env[@]}" "$@" 2>&1 | grep --line-buffered -v "linux-sandbox" | tee "$log"
bazel_rc=${PIPESTATUS[0]}

passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "$log")
if [[ $bazel_rc -ne 0 && $failed -eq 0 ]]; then
  # The build itself failed before any test could report.
  failed=1
fi
rm -f "$log"
bazel shutdown >/dev/null 2>&1
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $bazel_rc -eq 0 ]]
