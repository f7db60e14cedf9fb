package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// renderedProof is a finished round's proof, built once: the gRPC message and the
// exact JSON body the gateway would render, with its ETag.
type renderedProof struct {
	round uint64
	msg   *apiv1.ProofResponse
	json  []byte
	etag  string
}

// proofCache renders each requested proof once and keeps the most recent ones; a
// proof never changes once published, so entries never go stale.
type proofCache struct {
	b      Backend
	pubkey []byte
	size   int

	mu      sync.Mutex
	entries []*renderedProof
	flights map[uint64]*flight
}

type flight struct {
	done chan struct{}
	p    *renderedProof
	err  error
}

func newProofCache(b Backend, size int) *proofCache {
	return &proofCache{b: b, size: size, flights: map[uint64]*flight{}}
}

// jsonOptions are the gateway's: every field emitted, lowerCamelCase names.
var jsonOptions = protojson.MarshalOptions{EmitUnpopulated: true}

// get returns the rendered proof of a round ID; an ID that is not a round number is
// ErrProofNotFound, as the reference answers.
func (c *proofCache) get(ctx context.Context, id string) (*renderedProof, error) {
	round, err := schedule.ParseRoundID(id)
	if err != nil {
		return nil, registration.ErrProofNotFound
	}
	c.mu.Lock()
	for _, e := range c.entries {
		if e.round == round {
			c.mu.Unlock()
			return e, nil
		}
	}
	f, ok := c.flights[round]
	if !ok {
		f = &flight{done: make(chan struct{})}
		c.flights[round] = f
		go c.render(round, f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.p, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *proofCache) render(round uint64, f *flight) {
	defer close(f.done)
	defer func() {
		c.mu.Lock()
		delete(c.flights, round)
		if f.err == nil {
			c.entries = append(c.entries, f.p)
			if len(c.entries) > c.size {
				c.entries = c.entries[1:]
			}
		}
		c.mu.Unlock()
	}()
	sp, err := c.b.Proof(context.Background(), round)
	if err != nil {
		f.err = err
		return
	}
	msg := &apiv1.ProofResponse{
		Proof: &apiv1.PoetProof{
			Proof: &apiv1.MerkleProof{
				Root:         sp.Proof.Root,
				ProvenLeaves: sp.Proof.ProvenLeaves,
				ProofNodes:   sp.Proof.ProofNodes,
			},
			Members: sp.Members,
			Leaves:  sp.Leaves,
		},
		Pubkey: c.b.Info().ServicePubkey,
	}
	body, err := jsonOptions.Marshal(msg)
	if err != nil {
		f.err = err
		return
	}
	sum := sha256.Sum256(body)
	f.p = &renderedProof{round: round, msg: msg, json: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}
