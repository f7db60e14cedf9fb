# poet-operator: the PoET service and its Kubernetes operator.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

GO        ?= go
BIN       ?= $(CURDIR)/bin
# The release version's one home: make manifests writes it where files spell it out
# (hack/sync-version.sh: the chart, the kustomize tag, main.go, the Dockerfile).
VERSION   ?= v0.1.0
LDFLAGS   := -s -w -X main.version=$(VERSION)
FUZZTIME  ?= 10s
.DEFAULT_GOAL := all
DURATION  ?= 20s

##@ Tools (cached in bin/, keyed by version)

HELM_VERSION ?= v3.22.0
HELM := $(BIN)/helm-$(HELM_VERSION)
$(HELM):
	GOBIN=$(BIN)/.tmp $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/.tmp/helm $@

KUSTOMIZE_VERSION ?= v5.8.2
KUSTOMIZE := $(BIN)/kustomize-$(KUSTOMIZE_VERSION)
$(KUSTOMIZE):
	GOBIN=$(BIN)/.tmp $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(BIN)/.tmp/kustomize $@

CONTROLLER_GEN_VERSION ?= v0.23.0
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
$(CONTROLLER_GEN):
	GOBIN=$(BIN)/.tmp $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/.tmp/controller-gen $@

HELM_DOCS_VERSION ?= v1.14.2
HELM_DOCS := $(BIN)/helm-docs-$(HELM_DOCS_VERSION)
$(HELM_DOCS):
	GOBIN=$(BIN)/.tmp $(GO) install github.com/norwoodj/helm-docs/cmd/helm-docs@$(HELM_DOCS_VERSION)
	mv $(BIN)/.tmp/helm-docs $@

GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
$(GOLANGCI_LINT):
	GOBIN=$(BIN)/.tmp $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/.tmp/golangci-lint $@

.PHONY: all
all: build

##@ Build

.PHONY: build
build: ## Build the binaries into bin/: poet, poet_bench, poet_load and the operator's manager.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./poet/cmd/...
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/manager .

.PHONY: run
run: ## Run the PoET service on its development default (loopback, genesis now; ops on :2112).
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/poet ./poet/cmd/poet
	@# Genesis is "now" on every run, a new network each time: the last run's data is not its.
	rm -rf $(BIN)/dev-poet
	$(BIN)/poet --poetdir $(BIN)/dev-poet --metrics-port 2112

.PHONY: run-operator
run-operator: manifests ## Run the operator against the current kubeconfig's cluster (install the CRD first: kubectl apply -f config/crd/bases).
	$(GO) run . --leader-elect=false

##@ Test

.PHONY: test
test: vet fmt-check $(KUSTOMIZE) $(HELM) ## Run every test: unit, property, crash, end-to-end, envtest, fuzz seeds, the differential tests against the reference, and the real-cluster suite.
	$(HELM) lint --strict charts/poet-operator
	$(MAKE) test-rules
	@assets=$$(hack/envtest-assets.sh) && echo "envtest control plane: $$assets" && \
	  KUBEBUILDER_ASSETS=$$assets KUSTOMIZE=$(KUSTOMIZE) HELM=$(HELM) $(GO) test -json -count=1 -timeout 20m ./... | $(GO) run ./hack/testsum
	cd hack/compat && $(GO) test -json -count=1 ./... | $(GO) -C $(CURDIR) run ./hack/testsum
	cd hack/cluster && $(GO) test -count=1 ./internal/...
	$(MAKE) e2e

##@ Real cluster (root; one node on this machine: hack/cluster/cluster.sh)

CLUSTER := hack/cluster/cluster.sh

.PHONY: cluster-up
cluster-up: ## Start the one-node cluster (builds it the first time, ~35 min cold); prints the kubeconfig path.
	@$(CLUSTER) up

.PHONY: cluster-down
cluster-down: ## Stop the cluster and check the machine is left as it was found.
	@$(CLUSTER) down

.PHONY: images
images: ## Build the poet and poet-operator image tarballs into bin/images (no engine, no registry).
	cd hack/cluster && $(GO) run ./images --repo $(CURDIR) --out $(BIN)/images --only poet,operator --version $(VERSION)

.PHONY: docker-build
docker-build: ## Build the images with docker (where a docker engine runs).
	docker build --target poet -t ghcr.io/poet-operator/poet:$(VERSION) --build-arg VERSION=$(VERSION) .
	docker build --target operator -t ghcr.io/poet-operator/poet-operator:$(VERSION) --build-arg VERSION=$(VERSION) .

.PHONY: deploy
deploy: images $(HELM) ## Import the local images into the cluster and install or upgrade the chart on it.
	$(CLUSTER) import $(BIN)/images/poet.tar $(BIN)/images/operator.tar
	$(HELM) upgrade --install poet-operator charts/poet-operator -n poet-operator-system --create-namespace \
	  --kubeconfig $$($(CLUSTER) kubeconfig) --wait

.PHONY: e2e
e2e: $(HELM) ## The real-cluster suite alone; starts and stops a cluster itself when none is up.
	@mkdir -p $(BIN)
	cd hack/cluster && HELM=$(HELM) $(GO) test -count=1 -timeout 60m -v ./e2e/ 2>&1 | tee $(BIN)/e2e.log

.PHONY: test-rules
test-rules: ## Unit-test every alert of config/prometheus/poet_rules.yaml with promtool (poet_rules_test.yaml; installs Debian's prometheus package when promtool is missing).
	hack/test-rules.sh

.PHONY: test-short
test-short: ## The unit tests alone: no control plane, cluster, helm or kustomize (envtest suites skip under -short).
	$(GO) test -short ./...

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each.
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done
	cd hack/compat && for f in $$($(GO) test -list '^Fuzz' . | grep '^Fuzz' || true); do \
	  echo "== compat $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) . ; \
	done

.PHONY: bench
bench: ## Micro-benchmarks of the kernel and the PoSW, then poet_bench side by side with the reference.
	$(GO) test -run '^$$' -bench . -benchtime 2s ./poet/posw/...
	DURATION=$(DURATION) hack/bench-compare.sh
	hack/load-compare.sh

##@ Checks

.PHONY: vet
vet:
	$(GO) vet ./...
	cd hack/compat && $(GO) vet ./...
	cd hack/cluster && $(GO) vet ./...

.PHONY: fmt-check
fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^bin/') 2>/dev/null); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi


.PHONY: lint
lint: vet fmt-check $(GOLANGCI_LINT) ## Static checks: go vet, gofmt and golangci-lint.
	$(GOLANGCI_LINT) run ./...




.PHONY: manifests
manifests: $(CONTROLLER_GEN) $(HELM_DOCS) ## Regenerate the CRD and RBAC manifests from the markers, the chart's copies, the CRD reference and the chart's README.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	hack/sync-chart.sh
	hack/sync-version.sh $(VERSION)
	$(GO) run ./hack/crdref config/crd/bases/poet.poet-operator.dev_poetservices.yaml api/v1alpha1/README.md
	$(HELM_DOCS) --log-level warning --chart-search-root charts --template-files README.md.gotmpl

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy code and the protobuf, gRPC and gateway code of poet/api/v1.
	$(CONTROLLER_GEN) object paths="./api/..."
	hack/gen-proto.sh

.PHONY: verify
verify: generate manifests ## Regenerate everything generated and fail on any drift.
	$(GO) mod tidy
	cd hack/compat && $(GO) mod tidy
	cd hack/cluster && $(GO) mod tidy
	@git diff --exit-code -- go.mod go.sum hack/compat/go.mod hack/compat/go.sum hack/cluster/go.mod hack/cluster/go.sum poet/api/v1 api config charts main.go Dockerfile || { echo "generated files drift: run make verify and commit the result"; exit 1; }
	@test -z "$$(git status --porcelain -- poet/api/v1 api config charts)" || { echo "untracked generated files"; git status --porcelain -- poet/api/v1 api config charts; exit 1; }

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
