#!/usr/bin/env bash
# Provides the pinned SpiceDB server binary, cached outside the repository so clones share it.
# Prints the binary's path on stdout. Builds it with `go install` when it is not cached yet.
set -euo pipefail

version="${SPICEDB_VERSION:-v1.56.2}"
cache_root="${SPICEDB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/authz-spicedb}"
bin_dir="$cache_root/$version"
binary="$bin_dir/spicedb"

if [ -x "$binary" ] && "$binary" version 2>/dev/null | grep -q "$version"; then
  echo "$binary"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "ensure-spicedb: Go is not installed and $binary is missing; install Go or set SPICEDB_BINARY" >&2
  exit 1
fi

mkdir -p "$bin_dir"
echo "ensure-spicedb: building spicedb $version with go install (first time only, a few minutes)" >&2
GOBIN="$bin_dir" GOFLAGS="${GOFLAGS:-} -trimpath" go install "github.com/authzed/spicedb/cmd/spicedb@$version" >&2
"$binary" version >&2
echo "$binary"
