// Package proofjson is the proof's JSON form, the one encoding of package proofcodec
// that needs the API's protobuf types: the body of the REST GET /v1/proofs/{round}, a
// ProofResponse rendered as the reference's grpc-gateway renders it (protojson, every
// field emitted, bytes in base64, leaves as a decimal string). The service serves it and
// poet_bench writes and reads proof files in it, so a file compares byte for byte with
// what a service serves.
//
// It is a package of its own so that the on-disk codecs, which the prover, the registry
// and the import use, do not link the API's protobuf registration: rpc.api.v1 is also
// the reference's proto package, and a binary holding both (hack/compat) panics at init.
package proofjson

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/posw"
)

// marshal are the options of grpc-gateway's default marshaler.
var marshal = protojson.MarshalOptions{EmitUnpopulated: true}

// Response is the API message of a proof of leaves leaves over members, signed by the
// service key pubkey. members nil is the empty list.
func Response(p *posw.Proof, members [][]byte, leaves uint64, pubkey []byte) *apiv1.ProofResponse {
	return &apiv1.ProofResponse{
		Proof: &apiv1.PoetProof{
			Proof:   &apiv1.MerkleProof{Root: p.Root, ProvenLeaves: p.ProvenLeaves, ProofNodes: p.ProofNodes},
			Members: members,
			Leaves:  leaves,
		},
		Pubkey: pubkey,
	}
}

// Marshal renders a response as the gateway does, compacted: protojson inserts
// whitespace that differs from build to build (on purpose, so nobody relies on its
// bytes), and a proof rendered once per round should be the same bytes everywhere.
func Marshal(r *apiv1.ProofResponse) ([]byte, error) {
	b, err := marshal.Marshal(r)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(b))
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Decode reads a response body back: the proof, its members, its leaves and the key.
// leaves may be a string (as rendered) or a number.
func Decode(b []byte) (p *posw.Proof, members [][]byte, leaves uint64, pubkey []byte, err error) {
	var r apiv1.ProofResponse
	if err := protojson.Unmarshal(b, &r); err != nil {
		return nil, nil, 0, nil, fmt.Errorf("decoding proof: %w", err)
	}
	pp := r.GetProof()
	mp := pp.GetProof()
	if mp == nil {
		return nil, nil, 0, nil, fmt.Errorf("decoding proof: no proof.proof")
	}
	return &posw.Proof{Root: mp.Root, ProvenLeaves: mp.ProvenLeaves, ProofNodes: mp.ProofNodes}, pp.Members, pp.Leaves, r.Pubkey, nil
}
