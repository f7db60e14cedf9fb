# syntax=docker/dockerfile:1
# Two images from one build:
#   docker build --target poet     -t ghcr.io/poet-operator/poet:$VERSION .          (poet, poet_bench)
#   docker build --target operator -t ghcr.io/poet-operator/poet-operator:$VERSION .
# The Go build is `make build`, the same target CI runs.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=v0.1.0
RUN make build VERSION=${VERSION} BIN=/out

FROM gcr.io/distroless/static-debian12:nonroot AS poet
ARG VERSION=v0.1.0
LABEL org.opencontainers.image.title="poet" \
      org.opencontainers.image.description="PoET service for Spacemesh, compatible with spacemeshos/poet" \
      org.opencontainers.image.source="https://github.com/poet-operator/poet-operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/poet /out/poet_bench /usr/local/bin/
USER 65532:65532
EXPOSE 8080 50002 9100
ENTRYPOINT ["/usr/local/bin/poet"]

FROM gcr.io/distroless/static-debian12:nonroot AS operator
ARG VERSION=v0.1.0
LABEL org.opencontainers.image.title="poet-operator" \
      org.opencontainers.image.description="Kubernetes operator for PoET services" \
      org.opencontainers.image.source="https://github.com/poet-operator/poet-operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
