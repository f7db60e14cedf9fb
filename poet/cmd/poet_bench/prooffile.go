package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// proofFile is the JSON body of the REST GET /v1/proofs/{round} (a ProofResponse as the
// grpc-gateway renders it), so files compare with what a service serves.
type proofFile struct {
	Proof struct {
		Proof struct {
			Root         []byte   `json:"root"`
			ProvenLeaves [][]byte `json:"provenLeaves"`
			ProofNodes   [][]byte `json:"proofNodes"`
		} `json:"proof"`
		Members [][]byte `json:"members"`
		Leaves  uint64s  `json:"leaves"`
	} `json:"proof"`
	Pubkey []byte `json:"pubkey"`
}

// uint64s is a uint64 written as a JSON string, as protojson does; it reads a number too.
type uint64s uint64

func (u uint64s) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatUint(uint64(u), 10) + `"`), nil
}

func (u *uint64s) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseUint(string(bytes.Trim(b, `"`)), 10, 64)
	if err != nil {
		return fmt.Errorf("leaves: %w", err)
	}
	*u = uint64s(v)
	return nil
}

func writeProofFile(path string, p *posw.Proof, leaves uint64, pubkey []byte) error {
	var f proofFile
	f.Proof.Proof.Root = p.Root
	f.Proof.Proof.ProvenLeaves = p.ProvenLeaves
	f.Proof.Proof.ProofNodes = p.ProofNodes
	f.Proof.Members = [][]byte{}
	f.Proof.Leaves = uint64s(leaves)
	f.Pubkey = pubkey
	b, err := json.Marshal(&f)
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
	return decodeProof(b)
}

func decodeProof(b []byte) (*posw.Proof, uint64, error) {
	var f proofFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, 0, fmt.Errorf("decoding proof: %w", err)
	}
	p := &posw.Proof{
		Root:         f.Proof.Proof.Root,
		ProvenLeaves: f.Proof.Proof.ProvenLeaves,
		ProofNodes:   f.Proof.Proof.ProofNodes,
	}
	return p, uint64(f.Proof.Leaves), nil
}
