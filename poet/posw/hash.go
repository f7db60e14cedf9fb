package posw

import (
	"math/bits"

	"github.com/poet-operator/poet-operator/poet/posw/internal/chain"
)

const (
	// LabelHashes is the number of chained SHA-256 applications that make one label.
	LabelHashes = 400
	// NodeSize is the size of a label and of a Merkle node.
	NodeSize = 32
	// MaxHeight bounds the height of a tree; leaf indices are uint64.
	MaxHeight = 64
)

// Node is a label or a Merkle node.
type Node = [NodeSize]byte

// Parked holds, for each height h, the root of the complete left subtree that waits for
// its right sibling. For the next leaf index i, slot h is meaningful iff bit h of i is set.
type Parked [MaxHeight]Node

// Hasher computes labels and Merkle nodes for one statement. It is not safe for
// concurrent use; it does not allocate once warm.
type Hasher struct {
	stmt []byte
	h    chain.Hasher
}

// NewHasher returns a Hasher keyed by the round statement.
func NewHasher(stmt []byte) *Hasher {
	return &Hasher{stmt: append([]byte(nil), stmt...)}
}

// Label computes the label of leaf i from the parked nodes of the tree that has i leaves.
func (h *Hasher) Label(out *Node, i uint64, parked *Parked) {
	h.h.Reset()
	h.h.Write(h.stmt)
	h.h.WriteUint64(i)
	for m := i; m != 0; m &= m - 1 {
		h.h.Write(parked[bits.TrailingZeros64(m)][:])
	}
	h.h.Sum(out, LabelHashes-1)
}

// LabelFrom computes the label of leaf i from an explicit list of parked nodes, in
// ascending height, as a verifier reconstructs them. Nodes may have any length.
func (h *Hasher) LabelFrom(out *Node, i uint64, parked [][]byte) {
	h.h.Reset()
	h.h.Write(h.stmt)
	h.h.WriteUint64(i)
	for _, p := range parked {
		h.h.Write(p)
	}
	h.h.Sum(out, LabelHashes-1)
}

// Merkle computes the Merkle node SHA-256(stmt ‖ left ‖ right).
func (h *Hasher) Merkle(out *Node, left, right []byte) {
	h.h.Reset()
	h.h.Write(h.stmt)
	h.h.Write(left)
	h.h.Write(right)
	h.h.Sum(out, 0)
}

// Chain applies SHA-256 n times to x in place: the bare kernel of the prover, whose
// speed bounds every label (LabelHashes compressions each).
func Chain(x *Node, n int) { chain.Chain(x, n) }

// Kernel names the SHA-256 implementation in use: "sha-ni", "avx-bmi2" or "generic".
func Kernel() string { return chain.Implementation() }
