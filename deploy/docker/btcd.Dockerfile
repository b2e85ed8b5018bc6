# syntax=docker/dockerfile:1
# btcd (the Go full node) for deploy/compose.yaml, built from its Go module in a builder stage,
# pinned to the version scripts/install-btcd.sh installs for the tests (docs/bitcoin-node.md).
ARG GO_VERSION=1.25
ARG BTCD_VERSION=v0.26.2

FROM golang:${GO_VERSION}-bookworm AS build
ARG BTCD_VERSION
# CGO off: btcd needs no C, and the binaries then run on any base image.
RUN CGO_ENABLED=0 GOBIN=/out GOFLAGS=-buildvcs=false \
    go install "github.com/btcsuite/btcd@${BTCD_VERSION}" "github.com/btcsuite/btcd/cmd/btcctl@${BTCD_VERSION}"

FROM debian:bookworm-slim AS btcd
COPY --from=build /out/btcd /out/btcctl /usr/local/bin/
RUN useradd --system --uid 10002 --home-dir /var/lib/btcd --create-home btcd
VOLUME ["/var/lib/btcd"]
USER btcd
ENTRYPOINT ["btcd"]
