# Generated code is checked in; `make generate` rebuilds it from the protos
# with Debian's protoc and the generator versions pinned in go.mod (tool lines).
PROTO_DIR := api/audittrail/v1
BIN := $(CURDIR)/.bin
# grpc-gateway's own OpenAPI annotation protos, from the module cache (the
# version in go.mod), so no googleapis or buf registry is needed.
GATEWAY_DIR = $(shell go list -m -f '{{.Dir}}' github.com/grpc-ecosystem/grpc-gateway/v2)

.PHONY: generate check-generate web check-web test build release image

build:
	go build -o audittrail ./cmd/audittrail

generate:
	@mkdir -p $(BIN)
	go build -o $(BIN)/ google.golang.org/protobuf/cmd/protoc-gen-go \
		google.golang.org/grpc/cmd/protoc-gen-go-grpc \
		github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
		github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2
	PATH=$(BIN):$$PATH protoc -I . -I $(GATEWAY_DIR) \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		--grpc-gateway_out=. --grpc-gateway_opt=paths=source_relative \
		--grpc-gateway_opt=grpc_api_configuration=$(PROTO_DIR)/audittrail_http.yaml \
		--openapiv2_out=. \
		--openapiv2_opt=grpc_api_configuration=$(PROTO_DIR)/audittrail_http.yaml \
		$(PROTO_DIR)/audittrail.proto

# Fails when the checked-in generated code differs from what the protos give.
check-generate: generate
	git diff --exit-code -- $(PROTO_DIR)
	@test -z "$$(git status --porcelain -- $(PROTO_DIR))" || { git status --porcelain -- $(PROTO_DIR); echo "generated code drifted: run make generate and commit"; exit 1; }

test:
	go test ./...

# The viewer's script: web/src (TypeScript) bundled by esbuild into
# internal/viewer/assets/static/app.js, which is checked in so that
# `go build` never needs Node. Versions are pinned in web/package-lock.json.
WEB_BUNDLE := internal/viewer/assets/static/app.js

web:
	cd web && npm ci --no-audit --no-fund && npm run check && npm run build

# Fails when the checked-in bundle differs from what web/src gives.
check-web: web
	git diff --exit-code -- $(WEB_BUNDLE)
	@test -z "$$(git status --porcelain -- $(WEB_BUNDLE))" || { echo "viewer bundle drifted: run make web and commit"; exit 1; }

# Static release binaries for linux and darwin on amd64 and arm64, stamped
# with the version (VERSION=v1.2.0 make release; default: git describe),
# and their SHA-256 sums, in dist/.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
BUILD_TIME := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
LDFLAGS := -s -w -X main.releaseVersion=$(VERSION) -X main.releaseCommit=$(COMMIT) -X main.releaseBuildTime=$(BUILD_TIME)

release:
	@rm -rf dist && mkdir -p dist
	@for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=dist/audittrail-$(VERSION)-$$os-$$arch; \
		echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $$out ./cmd/audittrail || exit 1; \
	done
	cd dist && sha256sum audittrail-* > SHA256SUMS

# The container image from a static binary built here (no Go image needed):
# IMAGE=audittrail:dev make image.
IMAGE ?= audittrail:$(VERSION)
DOCKER ?= docker

image:
	@mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o dist/audittrail-linux-amd64 ./cmd/audittrail
	DOCKER_BUILDKIT=1 $(DOCKER) build --build-arg BINARY=prebuilt --build-arg TARGETARCH=amd64 -t $(IMAGE) .
