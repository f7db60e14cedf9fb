package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"

	apiv1 "github.com/poet-operator/poet-operator/poet/api/v1"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// renderedProof is a finished round's proof, built once: the gRPC message and the
// exact JSON body the gateway would render from it, with its strong ETag.
type renderedProof struct {
	round uint64
	msg   *apiv1.ProofResponse
	json  []byte
	etag  string
}

// proofCache renders each requested proof once and keeps the most recently used ones.
// A published proof never changes, so an entry never goes stale; concurrent requests
// for a round not yet rendered share one rendering.
type proofCache struct {
	b    Backend
	size int

	mu      sync.Mutex
	entries []*renderedProof // least recently used first
	flights map[uint64]*flight
}

type flight struct {
	done chan struct{}
	p    *renderedProof
	err  error
}

// proofCacheSize is how many rendered proofs are kept: the round just finished and a
// few before it, which late nodes may still fetch. A million-member proof takes about
// 47 MB of JSON plus its message.
const proofCacheSize = 4

func newProofCache(b Backend, size int) *proofCache {
	return &proofCache{b: b, size: size, flights: map[uint64]*flight{}}
}

// gatewayJSON are the options of grpc-gateway's default marshaler: every field emitted,
// lowerCamelCase names.
var gatewayJSON = protojson.MarshalOptions{EmitUnpopulated: true}

// get returns the rendered proof of a round ID. An ID that is not a round number as
// the reference writes it is ErrProofNotFound, as the reference answers (its proofs are
// keyed by the ID string).
func (c *proofCache) get(ctx context.Context, id string) (*renderedProof, error) {
	round, err := schedule.ParseRoundID(id)
	if err != nil {
		return nil, registration.ErrProofNotFound
	}
	c.mu.Lock()
	for i, e := range c.entries {
		if e.round == round {
			c.entries = append(slices.Delete(c.entries, i, i+1), e)
			c.mu.Unlock()
			return e, nil
		}
	}
	f, ok := c.flights[round]
	if !ok {
		f = &flight{done: make(chan struct{})}
		c.flights[round] = f
		// Detached from ctx: one caller giving up must not fail the others waiting.
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
	f.p, f.err = c.build(round)
	c.mu.Lock()
	delete(c.flights, round)
	if f.err == nil {
		c.entries = append(c.entries, f.p)
		if len(c.entries) > c.size {
			c.entries = slices.Delete(c.entries, 0, len(c.entries)-c.size) // clears the evicted pointers
		}
	}
	c.mu.Unlock()
	close(f.done)
}

func (c *proofCache) build(round uint64) (*renderedProof, error) {
	sp, err := c.b.Proof(context.Background(), round)
	if err != nil {
		return nil, err
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
		// The service key, never anything shorter: a node panics on a pubkey under 5 bytes.
		Pubkey: c.b.Info().ServicePubkey,
	}
	body, err := gatewayJSON.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("rendering round %d proof: %w", round, err)
	}
	sum := sha256.Sum256(body)
	return &renderedProof{round: round, msg: msg, json: body, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}, nil
}
