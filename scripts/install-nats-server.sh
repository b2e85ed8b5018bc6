#!/usr/bin/env bash
# Installs nats-server (NATS with JetStream, in Go), pinned, into the project-local GOBIN so the
# JetStream share-sink integration test has a real broker (issue 13 item 4; docs/scaling.md).
#
#   scripts/install-nats-server.sh   # prints the path of the nats-server binary on its last line
#
# - Pinned: NATS_SERVER_VERSION is the latest release on the Go module proxy when this was
#   written (`go list -m -versions github.com/nats-io/nats-server/v2` → … v2.15.2 v2.15.3).
# - Project-local: the binary goes to .tmp/go/bin (.tmp/ is gitignored), beside btcd; the test
#   finds it after $NATS_SERVER_BIN and before PATH (test/support/find-binary.ts).
# - Idempotent: a stamp file records the version that was built.
set -euo pipefail
NATS_SERVER_VERSION="v2.15.3"

root="$(cd "$(dirname "$0")/.." && pwd)"
gobin="$root/.tmp/go/bin"
stamp="$gobin/.nats-server-version"

if [[ -x "$gobin/nats-server" && -f "$stamp" && "$(cat "$stamp")" == "$NATS_SERVER_VERSION" ]]; then
  echo "nats-server $NATS_SERVER_VERSION already installed" >&2
  echo "$gobin/nats-server"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-nats-server: the Go toolchain (go) is required: https://go.dev/dl/" >&2
  exit 1
fi

mkdir -p "$gobin"
started=$SECONDS
GOBIN="$gobin" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
  go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
echo "$NATS_SERVER_VERSION" >"$stamp"
echo "nats-server $NATS_SERVER_VERSION installed in $((SECONDS - started)) s" >&2
echo "$gobin/nats-server"
