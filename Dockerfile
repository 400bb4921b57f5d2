# The cpen-extproc sidecar: a static Go binary on a distroless base, with no
# shell and no package manager, run as a numeric non-root user.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t cpen-extproc .
#
# `make image` builds the same image without a Docker daemon; its builder
# (test/cmd/mkimage) reads this file's final stage for the entrypoint, user,
# working directory, labels and the binary's path and owner, and refuses
# what it cannot reproduce. So the final stage keeps to: ARG, LABEL (values
# using only that stage's ARGs), one COPY with a numeric --chown, a literal
# USER and WORKDIR, and an exec-form ENTRYPOINT.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no cgo, so nothing for a dynamic loader to find in the final
# image); vtprotobuf compiles go-control-plane's generated marshallers in.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -tags vtprotobuf -trimpath -ldflags "-s -w" \
      -o /out/cpen-extproc ./extproc/cmd/cpen-extproc

FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
# The repository states no license yet; NOASSERTION is SPDX's value for that.
LABEL org.opencontainers.image.title="cpen-extproc" \
      org.opencontainers.image.description="CPEN Router: Envoy ext_proc sidecar routing LLM requests under price caps" \
      org.opencontainers.image.source="https://github.com/cpen/router" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="NOASSERTION"
COPY --from=build --chown=65532:65532 /out/cpen-extproc /cpen-extproc
# Numeric, so that Kubernetes' runAsNonRoot can check it without /etc/passwd.
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/cpen-extproc"]
