#!/usr/bin/env bash
# Prints, one per line and sorted, the Debian packages that own the shared libraries the given binaries
# link directly (their DT_NEEDED entries, at the paths ldd resolves), so that the runtime image installs
# exactly those (apt brings their own dependencies) and no -dev package.
#   runtime_packages.sh [--skip_dir=DIR] bin/genailab-server bin/genailab-train ...
# --skip_dir: libraries present in DIR ship with the image by other means (the official LibTorch's lib/).
# Exit 1 if a needed library cannot be found or belongs to no package (it would be missing at run time).
set -euo pipefail
skip_dir=""
if [[ "${1:-}" == --skip_dir=* ]]; then skip_dir="${1#--skip_dir=}"; shift; fi
(($# > 0)) || { echo "usage: runtime_packages.sh [--skip_dir=DIR] BINARY..." >&2; exit 2; }
mapfile -t needed < <(readelf -d "$@" | awk '/\(NEEDED\)/ {gsub(/[][]/, "", $5); print $5}' | sort -u |
                      while read -r library; do [[ -n "$skip_dir" && -e "$skip_dir/$library" ]] || echo "$library"; done)
((${#needed[@]} > 0)) || { echo "runtime_packages.sh: no NEEDED entries in $*" >&2; exit 1; }

declare -A path_of
while read -r name arrow path _; do
  if [[ "$arrow" == "=>" && "$path" == /* ]]; then path_of["$name"]="$path"; fi
  # The dynamic loader appears as "/lib64/ld-linux-x86-64.so.2 (0x...)".
  if [[ "$name" == /* ]]; then path_of["${name##*/}"]="$name"; fi
done < <(ldd "$@")

status=0
candidates=()
for library in "${needed[@]}"; do
  path="${path_of[$library]:-}"
  if [[ -z "$path" ]]; then
    echo "runtime_packages.sh: ldd does not find $library" >&2
    status=1
    continue
  fi
  # Debian 12 merges /lib into /usr/lib; dpkg records whichever of the two paths the package shipped.
  candidates+=("/usr${path#/usr}" "${path#/usr}")
done
# "package[:arch][, package...]: /path" for the candidates dpkg knows.
owners=$(dpkg-query -S "${candidates[@]}" 2>/dev/null || true)
for library in "${needed[@]}"; do
  if [[ -n "${path_of[$library]:-}" ]] && ! grep -q "/$library\$" <<<"$owners"; then
    echo "runtime_packages.sh: no package owns $library" >&2
    status=1
  fi
done
grep -v -- "-dev[:,]" <<<"$owners" | cut -d: -f1 | tr ',' '\n' | sed 's/^ *//' | grep -v '^$' | sort -u
exit "$status"
