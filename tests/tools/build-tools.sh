#!/usr/bin/env bash
# Builds the real servers the test suite talks to, from their Go modules, into a cache outside
# the checkout keyed by version: a second run finds the binary and costs nothing.
#
#   tests/tools/build-tools.sh            build every tool that is missing
#   tests/tools/build-tools.sh weed       build one
#   tests/tools/build-tools.sh --print    print NAME=PATH for each tool (used by the test fixtures)
#
# SeaweedFS stands in for MinIO (whose server is AGPL: never built or vendored here); Jaeger v2
# is the OTLP backend. Versions are the ones the module proxy serves as approved releases.
set -euo pipefail

SEAWEEDFS_VERSION="v0.0.0-20261109003541-7506e5f91cd6"
JAEGER_VERSION="v1.75.0"
CACHE="${SMARTFED_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/smartfed-tools}"

# NAME -> "module version package": the package is built inside the module's own source tree,
# because SeaweedFS's go.mod carries replace directives that `go install module@version` refuses.
declare -A MODULE=(
  [weed]="github.com/seaweedfs/seaweedfs ${SEAWEEDFS_VERSION} ./weed"
  [jaeger]="github.com/jaegertracing/jaeger ${JAEGER_VERSION} ./cmd/jaeger"
)
declare -A VERSION=([weed]="$SEAWEEDFS_VERSION" [jaeger]="$JAEGER_VERSION")

binary_path() { echo "$CACHE/$1-${VERSION[$1]}/$1"; }

build() {
  local name=$1 target
  target=$(binary_path "$name")
  if [[ -x "$target" ]]; then
    echo "[tools] $name ${VERSION[$name]}: cached at $target"
    return
  fi
  echo "[tools] $name ${VERSION[$name]}: building ${MODULE[$name]} (several minutes on 2 cores)"
  local staging
  staging=$(mktemp -d "$CACHE/.build-$name.XXXXXX")
  local module version package source
  read -r module version package <<<"${MODULE[$name]}"
  source=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d "$source" ]] || { echo "[tools] could not download $module@$version" >&2; exit 1; }
  # Build into a staging folder, then one rename: an interrupted build never leaves a half binary.
  (cd "$source" && CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" \
    go build -trimpath -ldflags="-s -w" -o "$staging/$name" "$package")
  mkdir -p "$(dirname "$target")"
  mv "$staging/$name" "$target"
  rmdir "$staging"
  echo "[tools] $name: built $target"
}

mkdir -p "$CACHE"
if [[ "${1:-}" == "--print" ]]; then
  for name in "${!MODULE[@]}"; do echo "$name=$(binary_path "$name")"; done
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "[tools] go is not on PATH: install Go 1.26 or newer, then run tools/build-tools.sh again" >&2
  exit 1
fi
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(weed jaeger)
for name in "${names[@]}"; do
  [[ -n "${MODULE[$name]:-}" ]] || { echo "[tools] unknown tool '$name'; known: ${!MODULE[*]}" >&2; exit 2; }
  build "$name"
done
