#!/usr/bin/env bash
# genailab-report: `python3 -m genailab report` from a Bazel build (bazel run //client/python:genailab-report).
set -euo pipefail
runfiles="${RUNFILES_DIR:-$0.runfiles}"
export PYTHONPATH="${runfiles}/genailab/client/python${PYTHONPATH:+:${PYTHONPATH}}"
export MPLBACKEND="${MPLBACKEND:-Agg}"
exec /usr/bin/python3 -m genailab report "$@"
