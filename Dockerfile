# audittrail: a static binary on scratch, running as a non-root user, its
# embedded store in the /data volume.
#
#   docker build -t audittrail .                       # builds the binary in golang:1.26
#   make image                                         # or from dist/ (no Go image needed)
#   docker run -p 8080:8080 -v audittrail-data:/data audittrail
#
# BINARY selects where the binary comes from: the "build" stage (default)
# or "prebuilt" (dist/audittrail-linux-$TARGETARCH, from make release).
ARG BINARY=build
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.releaseVersion=${VERSION}" -o /out/audittrail ./cmd/audittrail

FROM scratch AS prebuilt
ARG TARGETARCH=amd64
COPY dist/audittrail-linux-${TARGETARCH} /out/audittrail

FROM ${BINARY} AS binary

FROM scratch
COPY --from=binary /out/audittrail /audittrail
# /data, owned by the image's user (the store refuses files others can read).
COPY --chown=65532:65532 deploy/docker/rootfs/ /
USER 65532:65532
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/audittrail"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--data", "/data"]
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/audittrail", "health", "--server", "http://127.0.0.1:8080"]
