#!/bin/bash
# Runs the built `genailab` binary: bad usage exits 2 with the usage text; an unreachable server prints
# UNAVAILABLE and exits 1.
set -u
GENAILAB="$1"
fail() { echo "FAIL: $*"; exit 1; }

# expect_run EXPECTED_CODE EXPECTED_STDERR_SUBSTRING ARGS...
expect_run() {
  local want_code="$1" want_text="$2"
  shift 2
  local stderr_file="${TEST_TMPDIR:-/tmp}/stderr.txt"
  "$GENAILAB" "$@" >/dev/null 2>"$stderr_file"
  local code=$?
  [[ "$code" == "$want_code" ]] || fail "genailab $* exited $code, want $want_code: $(cat "$stderr_file")"
  grep -qF -- "$want_text" "$stderr_file" || fail "genailab $* stderr lacks '$want_text': $(cat "$stderr_file")"
}

expect_run 2 "genailab: INVALID_ARGUMENT: no command given"
expect_run 2 "usage: genailab <command>"
expect_run 2 "unknown command 'frobnicate'" frobnicate
expect_run 2 "generate: --model is required" generate --out x.h5ad
expect_run 2 "unexpected argument 'extra'" list extra
expect_run 2 "unknown flag --bogus" list --bogus=1
expect_run 1 "genailab: UNAVAILABLE:" list --nosample_counts --server=127.0.0.1:1
expect_run 1 "genailab: UNAVAILABLE:" list --server 127.0.0.1:1 --timeout 20s
echo PASS
