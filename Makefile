# baton — two commands matter: `make run` starts the server, `make test`
# runs every test.
GO ?= go
BIN := bin/baton

.PHONY: run build test test-go vet fuzz bench clean

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

test: vet test-go

# Each fuzz target for a short while (the seed corpora already run in test).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime 30s ./token/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./password/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./token/ ./sqlite/ ./session/

clean:
	rm -rf bin
