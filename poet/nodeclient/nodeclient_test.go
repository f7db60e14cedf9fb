package nodeclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/registration"
)

func proofOf(t *testing.T, members [][]byte, leaves uint64) *apiv1.ProofResponse {
	t.Helper()
	p, err := posw.Prove(registration.MembershipRoot(members), leaves)
	if err != nil {
		t.Fatal(err)
	}
	return &apiv1.ProofResponse{
		Pubkey: []byte("service-key-32-bytes-long-------"),
		Proof: &apiv1.PoetProof{
			Members: members, Leaves: leaves,
			Proof: &apiv1.MerkleProof{Root: p.Root, ProvenLeaves: p.ProvenLeaves, ProofNodes: p.ProofNodes},
		},
	}
}

func TestValidate(t *testing.T) {
	a, b := NewIdentity(), NewIdentity()
	resp := proofOf(t, [][]byte{a.Challenge, b.Challenge}, 1000)
	if err := Validate(resp, resp.Pubkey, [][]byte{a.Challenge, b.Challenge}); err != nil {
		t.Fatalf("a valid proof: %v", err)
	}
	if err := Validate(resp, resp.Pubkey, [][]byte{NewIdentity().Challenge}); err == nil {
		t.Error("a missing challenge passed")
	}
	if err := Validate(resp, []byte("another"), nil); err == nil {
		t.Error("another service's key passed")
	}
	resp.Proof.Proof.Root[0] ^= 1
	if err := Validate(resp, resp.Pubkey, nil); err == nil {
		t.Error("a damaged root passed")
	}
	if err := Validate(&apiv1.ProofResponse{}, nil, nil); err == nil {
		t.Error("an empty answer passed")
	}
}

// Proof waits through 404s as the node does, and returns other errors at once.
func TestProofRetriesNotFound(t *testing.T) {
	want := proofOf(t, [][]byte{NewIdentity().Challenge}, 200)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/proofs/7" && calls.Add(1) < 3:
			http.Error(w, `{"code":5,"message":"not found"}`, http.StatusNotFound)
		case r.URL.Path == "/v1/proofs/7":
			b, _ := protojson.Marshal(want)
			_, _ = w.Write(b)
		default:
			http.Error(w, `{"code":3}`, http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	c := &Client{Base: srv.URL}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := c.Proof(ctx, "7", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(got, want.Pubkey, want.Proof.Members); err != nil || calls.Load() != 3 {
		t.Fatalf("after %d calls: %v", calls.Load(), err)
	}
	if _, err := c.Proof(ctx, "x", time.Millisecond); err == nil {
		t.Fatal("a 400 was retried or accepted")
	} else if Code(err) != http.StatusBadRequest {
		t.Fatalf("error %v", err)
	}
}
