# CPEN Router: the ext_proc sidecar, its tests and its demo.
GO ?= go
GO_TEST_ARGS ?=
# vtprotobuf compiles go-control-plane's generated marshallers in; the
# sidecar's codec uses them for its answers (without the tag it falls back
# to protobuf reflection).
GO_TAGS ?= vtprotobuf
BIN := bin
# The servers are built as the image ships them: static (no C library
# mapped in, about 1.5 MiB less resident memory) and without local paths.
# Symbols stay, for profiles and callgrind.
SERVER_BUILD = CGO_ENABLED=0 $(GO) build -trimpath
FUZZTIME ?= 30s
export CPEN_BIN := $(CURDIR)/$(BIN)/cpen-extproc

.PHONY: help build run demo test test-e2e test-faults helm-test lint bench bench-long bench-instructions fuzz image check-config check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/cpen-extproc and the test tools (stand-in, mock provider)
	$(SERVER_BUILD) -tags '$(GO_TAGS)' -o $(BIN)/cpen-extproc ./extproc/cmd/cpen-extproc
	$(GO) build -o $(BIN)/envoy-standin ./test/cmd/envoy-standin
	$(GO) build -o $(BIN)/mock-provider ./test/cmd/mock-provider

run: build ## run the sidecar on the embedded default catalog (gRPC :50051, admin :9901)
	$(BIN)/cpen-extproc

demo: build ## sidecar + mock provider + Envoy (or the Go stand-in) on :10000
	@test/demo/run.sh

test: build ## every test, race detector on, e2e included, then the chart's tests (helm-test)
	@rm -f $(BIN)/test-report.txt
	CPEN_TEST_REPORT=$(abspath $(BIN))/test-report.txt $(GO) test -race -count=1 -tags '$(GO_TAGS)' $(GO_TEST_ARGS) ./...
	@echo "what the suite ran or skipped on this machine (SDK snippets, browser):"; cat $(BIN)/test-report.txt 2>/dev/null || echo "  (nothing reported)"
	$(MAKE) helm-test

test-e2e: build ## the end-to-end suite only
	$(GO) test -race -count=1 -tags '$(GO_TAGS)' $(GO_TEST_ARGS) ./test/e2e/...

test-faults: build ## fault scenarios on real processes (Redis killed/hung, provider failing, rolling restart, reload storm, overload, hostile inputs), then their table
	@rm -f $(BIN)/faults-report.md
	CPEN_FAULTS_REPORT=$(abspath $(BIN))/faults-report.md $(GO) test -count=1 -v -tags '$(GO_TAGS)' $(GO_TEST_ARGS) -run . ./test/faults/
	@echo; cat $(BIN)/faults-report.md

helm-test: ## the Helm chart's tests (charts/tests, its own module): Helm 3 and 4 lint and template, no cluster
	cd charts/tests && $(GO) test -count=1 -timeout 30m $(GO_TEST_ARGS) ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: build ## micro benchmarks, then a short A/B run of the ext_proc path against the no-op floor, c=1, 16 and 64 (~4 min)
	$(GO) test -run '^$$' -bench . -benchmem -tags '$(GO_TAGS)' $(GO_TEST_ARGS) ./selector/... ./extproc/...
	$(SERVER_BUILD) -o $(BIN)/noop-extproc ./test/bench/cmd/noop-extproc
	$(GO) build -o $(BIN)/extproc-ab ./test/bench/cmd/ab
	$(BIN)/extproc-ab --short --bin $(BIN)/cpen-extproc --noop-bin $(BIN)/noop-extproc $(BENCH_ARGS)

bench-long: build ## full A/B matrix: concurrency 1,16,64 x default/200KiB request/1MiB response x 3 pairs, HTTP overhead (~14 min)
	$(SERVER_BUILD) -o $(BIN)/noop-extproc ./test/bench/cmd/noop-extproc
	$(GO) build -o $(BIN)/extproc-ab ./test/bench/cmd/ab
	$(BIN)/extproc-ab --bin $(BIN)/cpen-extproc --noop-bin $(BIN)/noop-extproc $(BENCH_ARGS)

bench-instructions: ## instructions per ext_proc exchange under valgrind's callgrind, sidecar vs no-op floor, 3 body sets (~5 min)
	$(SERVER_BUILD) -tags '$(GO_TAGS)' -o $(BIN)/cpen-extproc ./extproc/cmd/cpen-extproc
	$(SERVER_BUILD) -o $(BIN)/noop-extproc ./test/bench/cmd/noop-extproc
	$(GO) build -o $(BIN)/icount ./test/bench/cmd/icount
	$(BIN)/icount --bin $(BIN)/cpen-extproc --noop-bin $(BIN)/noop-extproc $(BENCH_ARGS)

fuzz: ## run each fuzz target for FUZZTIME
	$(GO) test -run '^$$' -fuzz '^FuzzLoadCatalog$$' -fuzztime $(FUZZTIME) ./config/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRouting$$' -fuzztime $(FUZZTIME) ./extproc/routing/
	$(GO) test -run '^$$' -fuzz '^FuzzEdit$$' -fuzztime $(FUZZTIME) ./extproc/jsonbody/
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) ./extproc/jsonbody/
	$(GO) test -run '^$$' -fuzz '^FuzzShape$$' -fuzztime $(FUZZTIME) ./extproc/jsonbody/
	$(GO) test -run '^$$' -fuzz '^FuzzStream$$' -fuzztime $(FUZZTIME) ./extproc/jsonbody/
	$(GO) test -run '^$$' -fuzz '^FuzzIntLiteral$$' -fuzztime $(FUZZTIME) ./extproc/jsonbody/
	$(GO) test -run '^$$' -fuzz '^FuzzSSESplit$$' -fuzztime $(FUZZTIME) -tags '$(GO_TAGS)' ./extproc/internal/chat/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRequest$$' -fuzztime $(FUZZTIME) -tags '$(GO_TAGS)' ./extproc/internal/stream/
	$(GO) test -run '^$$' -fuzz '^FuzzIndexFold$$' -fuzztime $(FUZZTIME) -tags '$(GO_TAGS)' ./extproc/internal/chat/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRequestBody$$' -fuzztime $(FUZZTIME) ./extproc/internal/chat/
	$(GO) test -run '^$$' -fuzz '^FuzzFixedFit$$' -fuzztime $(FUZZTIME) ./selector/
	$(GO) test -run '^$$' -fuzz '^FuzzLimiter$$' -fuzztime $(FUZZTIME) ./selector/state/
	$(GO) test -run '^$$' -fuzz '^FuzzLastXFFAddress$$' -fuzztime $(FUZZTIME) ./test/standin/
	$(GO) test -run '^$$' -fuzz '^FuzzFrameScanner$$' -fuzztime $(FUZZTIME) ./test/standin/
	$(GO) test -run '^$$' -fuzz '^FuzzParseExtraction$$' -fuzztime $(FUZZTIME) ./extproc/extract/
	$(GO) test -run '^$$' -fuzz '^FuzzMediaParts$$' -fuzztime $(FUZZTIME) ./extproc/credit/

image: VERSION ?= $(shell git describe --tags --always 2>/dev/null || echo dev)
image: ## the container image without a Docker daemon: bin/cpen-extproc-image.tar (docker-save format, FROM scratch)
	$(SERVER_BUILD) -tags '$(GO_TAGS)' -ldflags '-s -w' -o $(BIN)/image/cpen-extproc ./extproc/cmd/cpen-extproc
	$(GO) run ./test/cmd/mkimage --binary $(BIN)/image/cpen-extproc --dockerfile Dockerfile \
		--build-arg VERSION=$(VERSION) --tag cpen-extproc:$(VERSION) --out $(BIN)/cpen-extproc-image.tar

check-config: build ## validate CATALOG (default: the demo catalog) offline
	$(BIN)/cpen-extproc --check-config $(or $(CATALOG),test/demo/catalog.yaml)

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

check: lint ## lint, staticcheck (pinned), and fail if go.mod/go.sum are not tidy
	$(GO) run $(STATICCHECK) -tags '$(GO_TAGS)' ./...
	$(GO) mod tidy -diff

clean: ## remove bin/
	rm -rf $(BIN)
