package main

import (
	"fmt"
	"os"

	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/proofcodec/proofjson"
)

// Proof files are the JSON body of the REST GET /v1/proofs/{round} (package proofjson,
// the service's own rendering), so files compare with what a service serves.

func writeProofFile(path string, p *posw.Proof, leaves uint64, pubkey []byte) error {
	b, err := proofjson.Marshal(proofjson.Response(p, [][]byte{}, leaves, pubkey))
	if err != nil {
		return fmt.Errorf("encoding proof: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing proof: %w", err)
	}
	return nil
}

func readProofFile(path string) (*posw.Proof, uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("reading proof: %w", err)
	}
	p, _, leaves, _, err := proofjson.Decode(b)
	return p, leaves, err
}
