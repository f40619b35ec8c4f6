#!/bin/bash
# Smoke test of the genailab-server binary: starts on an empty repository with port 0, waits for the
# port file, scrapes /metrics (including the process memory gauge), sends SIGTERM and expects a clean
# exit 0. Bad flags exit non-zero.
set -u
server="$1"
repo="${TEST_TMPDIR}/repository"
port_file="${TEST_TMPDIR}/ports.json"
mkdir -p "${repo}"

"${server}" --repository="${repo}" --grpc_address=127.0.0.1:0 --metrics_address=127.0.0.1:0 \
    --port_file="${port_file}" --device=cpu --log_level=debug 2>"${TEST_TMPDIR}/stderr.txt" &
pid=$!
for _ in $(seq 1 300); do
  [[ -s "${port_file}" ]] && break
  kill -0 "${pid}" 2>/dev/null || break
  sleep 0.1
done
if [[ ! -s "${port_file}" ]]; then
  echo "FAIL: no port file"; cat "${TEST_TMPDIR}/stderr.txt"; kill "${pid}" 2>/dev/null; exit 1
fi
ports="$(cat "${port_file}")"
echo "ports: ${ports}"
metrics_port="$(echo "${ports}" | sed -E 's/.*"metrics_port":([0-9]+).*/\1/')"
grpc_port="$(echo "${ports}" | sed -E 's/.*"grpc_port":([0-9]+).*/\1/')"
if [[ "${grpc_port}" -le 0 || "${metrics_port}" -le 0 ]]; then
  echo "FAIL: bad ports ${ports}"; kill "${pid}"; exit 1
fi
exec 3<>"/dev/tcp/127.0.0.1/${metrics_port}"
printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
body="$(timeout 10 cat <&3)"
exec 3>&-
if ! grep -q "200 OK" <<<"${body}"; then
  echo "FAIL: /metrics did not answer 200: ${body}"; kill "${pid}"; exit 1
fi
if ! grep -q "^process_resident_memory_bytes [1-9]" <<<"${body}"; then
  echo "FAIL: /metrics lacks process_resident_memory_bytes: ${body}"; kill "${pid}"; exit 1
fi
kill -TERM "${pid}"
wait "${pid}"
rc=$?
if [[ "${rc}" -ne 0 ]]; then
  echo "FAIL: exit code ${rc} after SIGTERM"; cat "${TEST_TMPDIR}/stderr.txt"; exit 1
fi
if ! grep -q "serving 0 models on 127.0.0.1:0" "${TEST_TMPDIR}/stderr.txt"; then
  echo "FAIL: startup log line missing"; cat "${TEST_TMPDIR}/stderr.txt"; exit 1
fi

"${server}" --repository="${TEST_TMPDIR}/absent" --metrics_address= 2>"${TEST_TMPDIR}/stderr2.txt"
if [[ $? -eq 0 ]] || ! grep -q "absent" "${TEST_TMPDIR}/stderr2.txt"; then
  echo "FAIL: a missing repository must fail naming it"; cat "${TEST_TMPDIR}/stderr2.txt"; exit 1
fi
"${server}" --repository="${repo}" --device=gpu7 --metrics_address= 2>"${TEST_TMPDIR}/stderr3.txt"
if [[ $? -ne 2 ]] || ! grep -q "device must be auto, cpu or cuda:N" "${TEST_TMPDIR}/stderr3.txt"; then
  echo "FAIL: a bad --device must exit 2 naming the flag"; cat "${TEST_TMPDIR}/stderr3.txt"; exit 1
fi
"${server}" --repository="${repo}" --version_policy=newest --metrics_address= 2>"${TEST_TMPDIR}/stderr4.txt"
if [[ $? -ne 2 ]] || ! grep -q -- "--version_policy" "${TEST_TMPDIR}/stderr4.txt"; then
  echo "FAIL: a bad --version_policy must exit 2 naming the flag"; cat "${TEST_TMPDIR}/stderr4.txt"; exit 1
fi
echo PASS
