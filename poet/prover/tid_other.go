//go:build !linux

package prover

// threadID is -1 where threads have no id the operator could pin, as in the reference.
func threadID() int { return -1 }
