//go:build tools

// This file pins the reference benchmark command and server in go.mod/go.sum so that
//
//	go build -o <dir>/ref-bench github.com/spacemeshos/poet/cmd/bench
//	go build -o <dir>/ref-poet github.com/spacemeshos/poet
//
// work from hack/compat (go install of the reference module itself does not work).
package compat

import (
	_ "github.com/spacemeshos/poet"
	_ "github.com/spacemeshos/poet/cmd/bench"
)
