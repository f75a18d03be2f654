#!/usr/bin/env bash
# Provides the `zed` CLI (github.com/authzed/zed), cached outside the repository like the pinned
# SpiceDB binary. Prints the binary's path on stdout, or exits non-zero with the reason.
# ZED_VERSION pins the release; the default is the zed line released alongside SpiceDB v1.56.
set -euo pipefail

version="${ZED_VERSION:-v0.33.0}"
cache_root="${SPICEDB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/authz-spicedb}"
bin_dir="$cache_root/zed-$version"
binary="$bin_dir/zed"

if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
if [ -n "${ZED_BINARY:-}" ] && [ -x "$ZED_BINARY" ]; then
  echo "$ZED_BINARY"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "ensure-zed: Go is not installed and $binary is missing; install Go or set ZED_BINARY" >&2
  exit 1
fi

mkdir -p "$bin_dir"
echo "ensure-zed: building zed $version with go install (first time only)" >&2
if ! GOBIN="$bin_dir" GOFLAGS="${GOFLAGS:-} -trimpath" go install "github.com/authzed/zed/cmd/zed@$version" >&2; then
  rmdir "$bin_dir" 2>/dev/null || true
  echo "ensure-zed: go install github.com/authzed/zed/cmd/zed@$version failed (see above)" >&2
  exit 1
fi
echo "$binary"
