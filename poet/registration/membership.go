package registration

import "github.com/zeebo/blake3"

// membershipNodeSize is the size of a membership-tree node and of the padding that
// stands in for a missing right child.
const membershipNodeSize = 32

// MembershipRoot is the PoSW statement of a round: the root of the binary Merkle tree
// whose leaves are members (the raw challenges, in node-ID order), with internal nodes
// BLAKE3-256(0x01 ‖ left ‖ right) and 32 zero bytes for a missing right child at any
// level. One member is its own root; no members give the empty statement.
func MembershipRoot(members [][]byte) []byte {
	var t membershipTree
	for _, m := range members {
		t.add(m)
	}
	return t.root()
}

// membershipTree computes a membership root from leaves streamed in order, keeping one
// node per level: the root of a round is computed from a database cursor without holding
// its members in memory.
type membershipTree struct {
	// pending[l] is the complete left subtree of height l still waiting for its sibling.
	pending [][]byte
	leaves  uint64
	first   []byte
	buf     []byte
}

// add appends the next leaf.
func (t *membershipTree) add(leaf []byte) {
	t.leaves++
	if t.leaves == 1 {
		t.first = append([]byte(nil), leaf...)
	}
	node := append([]byte(nil), leaf...)
	for l := 0; ; l++ {
		if l == len(t.pending) {
			t.pending = append(t.pending, nil)
		}
		if t.pending[l] == nil {
			t.pending[l] = node
			return
		}
		node = t.hash(t.pending[l], node)
		t.pending[l] = nil
	}
}

// root closes the tree: every incomplete right edge is padded with zero nodes.
func (t *membershipTree) root() []byte {
	switch t.leaves {
	case 0:
		return []byte{}
	case 1:
		return t.first
	}
	var zero [membershipNodeSize]byte
	var carry []byte
	top := len(t.pending) - 1
	for l := 0; l < top; l++ {
		switch {
		case t.pending[l] != nil && carry != nil:
			carry = t.hash(t.pending[l], carry)
		case t.pending[l] != nil:
			carry = t.hash(t.pending[l], zero[:])
		case carry != nil:
			carry = t.hash(carry, zero[:])
		}
	}
	if carry == nil {
		return t.pending[top] // a power of two: the last level holds the whole tree
	}
	return t.hash(t.pending[top], carry)
}

// hash is one internal node, BLAKE3-256(0x01 ‖ left ‖ right).
func (t *membershipTree) hash(left, right []byte) []byte {
	t.buf = append(append(append(t.buf[:0], 0x01), left...), right...)
	sum := blake3.Sum256(t.buf)
	return sum[:]
}
