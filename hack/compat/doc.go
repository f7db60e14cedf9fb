// Package compat holds differential tests and benchmarks of this repository's PoSW
// (github.com/poet-operator/poet-operator/poet/posw, poet_bench) against the reference
// implementation github.com/spacemeshos/poet v0.10.12.
//
// It is a separate, test-only module: the reference is a dependency of this module
// only and none of its code is copied into the main module. Run the tests with
//
//	cd hack/compat && go test ./...
//
// and the side-by-side benchmark with hack/bench-compare.sh.
package compat
