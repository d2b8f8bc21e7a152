# baton — two commands matter: `make run` starts the server, `make test`
# runs every test.
GO ?= go
BIN := bin/baton

.PHONY: run build test test-go vet fuzz bench bench-micro bench-load clean test-js e2e demo js-deps e2e-deps rp rp-deps

run:
	$(GO) run ./cmd/baton serve

build:
	$(GO) build -o $(BIN) ./cmd/baton

STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell go env GOPATH)/bin/staticcheck

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

vet: $(STATICCHECK)
	@fmt_out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$fmt_out" ]; then echo "gofmt needed:"; echo "$$fmt_out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

test-go:
	$(GO) test -race -count=1 -timeout 15m ./...

test: vet test-go test-js e2e rp

# The TypeScript client (clients/js) and the browser tests (e2e) install
# their npm dev dependencies from the committed lock files; the browser is
# the system's /usr/bin/chromium (.ci/run installs it), never a download.
NPM ?= npm
NPM_CI := PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(NPM) ci --no-audit --no-fund

js-deps:
	cd clients/js && $(NPM_CI)

e2e-deps:
	cd e2e && $(NPM_CI)

# Builds the client and runs its tests against the real binary; they also
# check that the committed copy (pages/assets/baton-client.js) matches this
# build.
test-js: js-deps
	cd clients/js && $(NPM) test

# Rebuilds the client and copies it into the embedded assets of baton's
# pages, which serve it to their own scripts and to the demo page.
demo: js-deps
	cd clients/js && $(NPM) run build
	cp clients/js/dist/index.js pages/assets/baton-client.js

# The demo page in headless Chromium (each file starts its own server).
e2e: e2e-deps
	cd e2e && $(NPM) test

# baton as the OpenID provider of relying parties nobody here wrote
# (rp/): openid-client in Node, a SPA on oidc-client-ts in headless
# Chromium, and oauth2-proxy in front of an app. oauth2-proxy is built
# once from the Go module proxy into bin/ (ignored), and kept.
OAUTH2_PROXY_VERSION := v7.15.6
OAUTH2_PROXY := bin/oauth2-proxy-$(OAUTH2_PROXY_VERSION)/oauth2-proxy

$(OAUTH2_PROXY):
	GOBIN=$(abspath $(@D)) $(GO) install github.com/oauth2-proxy/oauth2-proxy/v7@$(OAUTH2_PROXY_VERSION)

rp-deps: e2e-deps $(OAUTH2_PROXY)
	cd rp && $(NPM_CI)

rp: rp-deps
	cd rp && BATON_OAUTH2_PROXY=$(abspath $(OAUTH2_PROXY)) $(NPM) test

# Each fuzz target for a short while (the seed corpora already run in test).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime 30s ./token/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./password/
	$(GO) test -run '^$$' -fuzz FuzzLoginMFA -fuzztime 30s ./httpapi/
	# The server behind it stores flows and sessions, so coverage varies from
	# run to run; a short minimisation keeps the fuzzer fuzzing.
	$(GO) test -run '^$$' -fuzz FuzzPasskeyBodies -fuzztime 30s -fuzzminimizetime 10x ./httpapi/
	$(GO) test -run '^$$' -fuzz FuzzNormalizeCodes -fuzztime 30s ./session/
	# The provider's: live requests, codes and refresh tokens are put into
	# the inputs, so they too get a short minimisation.
	$(GO) test -run '^$$' -fuzz FuzzAuthorize -fuzztime 30s -fuzzminimizetime 10x ./httpapi/
	$(GO) test -run '^$$' -fuzz FuzzClientToken -fuzztime 30s -fuzzminimizetime 10x ./httpapi/

# bench regenerates BENCHMARKS.md (~9 minutes): the micro-benchmarks, then
# the load matrix (go run ./bench -report), which rewrites only the file's
# generated section. Needs PostgreSQL like make test.
BENCH_MICRO := bin/bench-micro.txt

bench: bench-micro bench-load

bench-micro:
	@mkdir -p bin
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./token/ ./sqlite/ ./postgres/ ./session/ | tee $(BENCH_MICRO)

bench-load:
	$(GO) run ./bench -report BENCHMARKS.md -micro $(BENCH_MICRO)

clean:
	rm -rf bin
