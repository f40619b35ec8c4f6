#!/usr/bin/env bash
# Runs one Python unittest file of client/python with Debian's interpreter, the package (sources and
# generated protos, merged in runfiles) and the test helpers on PYTHONPATH.
set -euo pipefail
here="${TEST_SRCDIR}/${TEST_WORKSPACE}/client/python"
export PYTHONPATH="${here}:${here}/tests${PYTHONPATH:+:${PYTHONPATH}}"
export MPLBACKEND=Agg
cd "${here}/$(dirname "$1")"
exec /usr/bin/python3 -m unittest -v "$(basename "$1" .py)"
