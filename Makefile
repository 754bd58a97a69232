# Atrium — build, run, test.
#
#   make run               build and start `atrium serve` with the embedded defaults
#   make test              every check CI runs: gofmt, go vet, go mod tidy -diff, golangci-lint, go test -race
#   make test-integration  the conformance suites against KurrentDB and SQL Server
#   make bench             throughput and lag, as ratios to raw baselines measured in the same run
#   make fuzz              every fuzz target in turn, FUZZTIME each (default 20s: make fuzz FUZZTIME=2m)
#   make lint              golangci-lint only

GO        ?= go
BIN       := $(CURDIR)/.bin
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
GOFILES    = $(shell find . -name '*.go' -not -path './.bin/*' -not -path './var/*')
# The MinIO server the documents suite runs against, built from the module
# proxy once (a few minutes) and cached in .bin.
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO := $(BIN)/minio-$(MINIO_VERSION)
# The OpenID Connect provider the single sign-on tests sign in through:
# Dex, pinned in tools/dex/go.mod (a module of its own, so none of its
# dependencies are Atrium's), built once and cached in .bin.
DEX_VERSION := $(shell sed -n 's/^\tgithub.com\/dexidp\/dex \(v[^ ]*\).*/\1/p' tools/dex/go.mod)
DEX := $(BIN)/dex-$(DEX_VERSION)

# with_progress,<what>,<command>: runs the command, saying every 30 s that
# it still runs, and how long it took.
define with_progress
start=$$(date +%s); \
( while sleep 30; do echo "  ... still building $(1): $$(( $$(date +%s) - start )) s"; done ) & ticker=$$!; \
$(2); rc=$$?; kill $$ticker 2>/dev/null; \
if [ $$rc -eq 0 ]; then echo "  $(1) built in $$(( $$(date +%s) - start )) s"; else echo "  building $(1) failed after $$(( $$(date +%s) - start )) s"; fi; exit $$rc
endef

.PHONY: all build run test test-integration bench fuzz lint fmt fmt-check vet tidy-check unit chromium clean

all: build

build:
	$(GO) build -o $(BIN)/atrium ./cmd/atrium

run: build
	$(BIN)/atrium serve

test: fmt-check vet tidy-check lint unit

unit: $(MINIO) $(DEX) chromium
	ATRIUM_MINIO_BIN=$(MINIO) ATRIUM_REQUIRE_MINIO=1 ATRIUM_DEX_BIN=$(DEX) ATRIUM_REQUIRE_DEX=1 ATRIUM_REQUIRE_POSTGRES=1 ATRIUM_REQUIRE_BROWSER=1 ATRIUM_REQUIRE_NODE=1 $(GO) test -race -count=1 -timeout 20m ./...

# The operator console's test drives a headless Chromium: Debian's package,
# installed once when the machine has none (as root, or with sudo that
# asks no password); ATRIUM_CHROMIUM names another browser instead.
chromium:
	@if [ -n "$$ATRIUM_CHROMIUM" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "the console's browser test needs Chromium: install Debian's chromium package, or set ATRIUM_CHROMIUM"; exit 1; fi; \
	if ! command -v apt-get >/dev/null; then echo "the console's browser test needs Chromium: install it, or set ATRIUM_CHROMIUM"; exit 1; fi; \
	echo "installing Debian's chromium for the console's browser test (about 75 MB, once)"; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	{ $$sudo apt-get update -q >/dev/null && $$sudo apt-get install -y -q --no-install-recommends chromium >/dev/null; }

$(MINIO):
	@mkdir -p $(BIN)
	@echo "building MinIO $(MINIO_VERSION) from the module proxy for the documents tests: a few minutes the first time, then cached in .bin"
	@$(call with_progress,MinIO,GOBIN=$(BIN) $(GO) install github.com/minio/minio@$(MINIO_VERSION))
	mv $(BIN)/minio $(MINIO)

$(DEX): tools/dex/go.mod tools/dex/go.sum
	@mkdir -p $(BIN)
	@echo "building Dex $(DEX_VERSION) from the module proxy for the single sign-on tests: a minute or two the first time, then cached in .bin"
	@$(call with_progress,Dex,cd tools/dex && CGO_ENABLED=0 $(GO) build -o $(DEX) github.com/dexidp/dex/cmd/dex)

fmt:
	gofmt -w $(GOFILES)

fmt-check:
	@out="$$(gofmt -l $(GOFILES))"; \
	if [ -n "$$out" ]; then echo "gofmt would change these files (run 'make fmt'):"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# go.mod lists exactly what the code imports, direct requirements unmarked.
tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod or go.sum is not tidy (run 'go mod tidy')"; exit 1; }

# The linter is pinned and built from the module proxy once, then cached in .bin.
$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	@echo "building golangci-lint $(GOLANGCI_LINT_VERSION) from the module proxy: a few minutes the first time, then cached in .bin"
	@$(call with_progress,golangci-lint,GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION))
	mv $(BIN)/golangci-lint $(GOLANGCI_LINT)

lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...

# External engines: KurrentDB and SQL Server cannot be embedded. Their adapters
# run the same conformance suites as the embedded ones when these URLs are set
# (docker compose up kurrentdb mssql provides both). Missing URLs fail the
# target: it never skips silently.
test-integration:
	@missing=""; \
	[ -n "$$ATRIUM_TEST_KURRENTDB_URL" ] || missing="$$missing ATRIUM_TEST_KURRENTDB_URL"; \
	[ -n "$$ATRIUM_TEST_MSSQL_URL" ] || missing="$$missing ATRIUM_TEST_MSSQL_URL"; \
	if [ -n "$$missing" ]; then echo "test-integration: not set:$$missing (see the README, section Tests)"; exit 1; fi
	@pkgs="$$(grep -rlE 'ATRIUM_TEST_(KURRENTDB|MSSQL)_URL|readstores\.Each|mssql(test|store)\.' --include='*_test.go' . | xargs -r -n1 dirname | sort -u)"; \
	if [ -z "$$pkgs" ]; then echo "test-integration: no external adapter suite exists yet (KurrentDB, SQL Server)"; exit 1; fi; \
	echo $(GO) test -race -count=1 $$pkgs; $(GO) test -race -count=1 $$pkgs

bench: build
	$(BIN)/atrium bench

# Every `func FuzzXxx` of every package's tests, found anew on each run,
# fuzzed one after another for FUZZTIME each. All run even when one fails;
# the target fails if any did, and the input that failed it is in its
# package's testdata/fuzz/FuzzXxx/. A run that fails with nothing but
# "context deadline exceeded" and writes no input is Go's own race at the
# end of -fuzztime (go.dev/issue/75804, fixed in Go 1.27): reported, not
# counted.
FUZZTIME ?= 20s

fuzz:
	@targets="$$(grep -rEo --include='*_test.go' --exclude-dir=.bin --exclude-dir=.cache --exclude-dir=.git --exclude-dir=var \
		'^func Fuzz[A-Za-z0-9_]*' . | sed -E 's|^(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)$$|\1:\2|' | sort -u)"; \
	if [ -z "$$targets" ]; then echo "fuzz: no fuzz target found"; exit 1; fi; \
	out="$$(mktemp)"; trap 'rm -f "$$out" "$$out.rc"' EXIT; \
	failed=""; flaked=""; \
	for t in $$targets; do \
		pkg="$${t%%:*}"; name="$${t#*:}"; \
		echo "$(GO) test -run '^$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) $$pkg"; \
		{ $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg" 2>&1; echo $$? >"$$out.rc"; } | tee "$$out"; \
		if [ "$$(cat "$$out.rc")" = 0 ]; then continue; fi; \
		if grep -qx '    context deadline exceeded' "$$out" && ! grep -q 'Failing input written to' "$$out" \
			&& [ "$$(grep -c -- '--- FAIL' "$$out")" = 1 ]; then flaked="$$flaked $$pkg.$$name"; \
		else failed="$$failed $$pkg.$$name"; fi; \
	done; \
	if [ -n "$$flaked" ]; then echo "fuzz: stopped by Go's end-of-fuzztime race, not counted:$$flaked"; fi; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed"; exit 1; fi; \
	echo "fuzz: every target passed"

clean:
	rm -rf $(BIN)/atrium var
