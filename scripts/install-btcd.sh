#!/usr/bin/env bash
# Installs btcd (a Bitcoin full node in Go) and btcctl, pinned, into a project-local GOBIN so the
# integration tests have a real node to talk to (issue 3 item 8; docs/bitcoin-node.md).
#
#   scripts/install-btcd.sh        # prints the path of the btcd binary on its last line
#
# - Pinned: BTCD_VERSION is the latest release tag on the Go module proxy when this was written
#   (`go list -m -versions github.com/btcsuite/btcd` → … v0.24.2 v0.26.2). Bump it deliberately.
# - Project-local: binaries go to .tmp/go/bin (.tmp/ is gitignored); the tests find btcd there
#   after $BTCD_BIN and before PATH (test/support/find-binary.ts).
# - Idempotent: a stamp file records the version that was built; if it matches and both binaries
#   exist, nothing is downloaded or built.
# - Needs only the Go toolchain (btcd v0.26.2 declares go 1.25.0; a newer local toolchain is fine,
#   an older one downloads the required toolchain through GOTOOLCHAIN=auto).
set -euo pipefail
BTCD_VERSION="v0.26.2"

root="$(cd "$(dirname "$0")/.." && pwd)"
gobin="$root/.tmp/go/bin"
stamp="$gobin/.btcd-version"

if [[ -x "$gobin/btcd" && -x "$gobin/btcctl" && -f "$stamp" && "$(cat "$stamp")" == "$BTCD_VERSION" ]]; then
  echo "btcd $BTCD_VERSION already installed" >&2
  echo "$gobin/btcd"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-btcd: the Go toolchain (go) is required: https://go.dev/dl/" >&2
  exit 1
fi

mkdir -p "$gobin"
started=$SECONDS
# Both commands live in the one module, so the second install reuses the first one's build cache.
# CGO is not needed by btcd; disabling it avoids depending on a C compiler on the CI machine.
GOBIN="$gobin" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
  go install "github.com/btcsuite/btcd@$BTCD_VERSION" "github.com/btcsuite/btcd/cmd/btcctl@$BTCD_VERSION"
echo "$BTCD_VERSION" >"$stamp"
echo "btcd $BTCD_VERSION installed in $((SECONDS - started)) s" >&2
echo "$gobin/btcd"
