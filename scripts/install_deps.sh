#!/usr/bin/env bash
# Installs the Debian 12 packages genailab needs to build, test and run (only those missing), and checks
# that LibTorch will use OpenBLAS rather than the reference BLAS (about ten times slower).
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap bazel-rules-java bazel-platforms bazel-skylib g++ pkg-config
  # libraries
  libtorch-dev libgloo-dev libyaml-cpp-dev libopenblas0-openmp libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev libhdf5-dev prometheus-cpp-dev nlohmann-json3-dev libssl-dev zlib1g-dev openssl
  libgtest-dev libgmock-dev googletest
  # Python side: evaluation scripts, checks that Python reads our files, the Python client
  python3-torch python3-numpy python3-anndata python3-h5py python3-grpcio python3-grpc-tools python3-matplotlib python3-yaml
  # deploy checks (promtool)
  prometheus
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "genailab: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

blas=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | awk '/^Value:/ {print $2}')
case "$blas" in
  *openblas*) ;;
  *) echo "genailab: warning: libblas.so.3 is '$blas', not OpenBLAS; LibTorch will be about 10x slower." \
          "Select it with: update-alternatives --config libblas.so.3-x86_64-linux-gnu" >&2 ;;
esac
