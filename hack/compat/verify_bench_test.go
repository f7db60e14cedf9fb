package compat

// Side by side: what it costs to verify a finished round of 1,000,000 members before
// storing it (issue 10 item 2): the membership root over the members (the statement),
// then the PoSW verifier. The reference never does this before storing a proof; a node
// does exactly this when it fetches one.

import (
	"crypto/rand"
	"testing"

	"github.com/spacemeshos/poet/hash"
	"github.com/spacemeshos/poet/shared"
	"github.com/spacemeshos/poet/verifier"

	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/registration"
)

func BenchmarkVerifyMillionMemberRound(b *testing.B) {
	const members = 1_000_000
	buf := make([]byte, 32*members)
	_, _ = rand.Read(buf)
	ms := make([][]byte, members)
	for i := range ms {
		ms[i] = buf[32*i : 32*i+32]
	}
	stmt := registration.MembershipRoot(ms)
	p, err := posw.Prove(stmt, 4096)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			root := membershipTree(b, ms).Root()
			mp := shared.MerkleProof{Root: p.Root, ProvenLeaves: p.ProvenLeaves, ProofNodes: p.ProofNodes}
			if err := verifier.Validate(mp, hash.GenLabelHashFunc(root), hash.GenMerkleHashFunc(root), 4096, shared.T); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ours", func(b *testing.B) {
		for b.Loop() {
			sp := registration.StoredProof{Proof: *p, Members: ms, Leaves: 4096}
			if err := registration.VerifyProof(&sp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
