#!/usr/bin/env bash
# Provides devvalidate: a playground/validation file checker built on SpiceDB v1.56.2's own
# development package (what `zed validate` and play.authzed.com run), for where the zed CLI
# cannot be installed. Prints the binary's path; builds it with Go the first time (minutes:
# it compiles SpiceDB's engine), cached outside the repository beside the SpiceDB binary.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${SPICEDB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/authz-spicedb}"
source_hash="$(cat "$here"/*.go "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)"
bin_dir="$cache_root/devvalidate-$source_hash"
binary="$bin_dir/devvalidate"

if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
if [ "${DEVVALIDATE_NO_BUILD:-}" = "true" ]; then
  echo "devvalidate: $binary is not built (DEVVALIDATE_NO_BUILD=true)" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  echo "devvalidate: Go is not installed and $binary is missing" >&2
  exit 1
fi
mkdir -p "$bin_dir"
echo "devvalidate: building with SpiceDB's development package (first time only, a few minutes)" >&2
(cd "$here" && GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly" go build -o "$binary" .) >&2
echo "$binary"
