package posw

import (
	"bytes"
	"errors"
	"fmt"
)

// MaxProofNodes is the most proof nodes a node can take: go-spacemesh's SCALE limit.
const MaxProofNodes = 5400

// Proof is a PoSW proof: the tree root, the T labels Fiat-Shamir opens (ascending index)
// and the sibling nodes needed to climb from them to the root, in the reference's order.
type Proof struct {
	Root         []byte
	ProvenLeaves [][]byte
	ProofNodes   [][]byte
}

// Errors a proof is rejected with; Verify wraps them with detail.
var (
	ErrMalformed    = errors.New("malformed proof")
	ErrRootMismatch = errors.New("merkle root mismatch")
	ErrBadLabel     = errors.New("label mismatch")
)

// GenerateProof opens the tree of n leaves whose complete nodes r holds: it computes the
// root, the Fiat-Shamir leaves and the proof nodes. n must be at least T.
func GenerateProof(h *Hasher, r NodeReader, n uint64) (*Proof, error) {
	if n < T {
		return nil, fmt.Errorf("a proof needs at least %d leaves, the tree has %d", T, n)
	}
	t := &paddedTree{h: h, r: r, n: n}
	root, err := t.root()
	if err != nil {
		return nil, fmt.Errorf("computing root: %w", err)
	}
	idx := FiatShamir(root[:], n, T)
	p := &Proof{Root: root[:], ProvenLeaves: make([][]byte, len(idx))}
	for k, i := range idx {
		var l Node
		if err := t.node(0, i, &l); err != nil {
			return nil, fmt.Errorf("reading label %d: %w", i, err)
		}
		p.ProvenLeaves[k] = l[:]
	}
	w := proofWriter{t: t, idx: idx, top: Height(n)}
	w.walk(w.top)
	if w.err != nil {
		return nil, fmt.Errorf("collecting proof nodes: %w", w.err)
	}
	p.ProofNodes = w.nodes
	return p, nil
}

// proofWriter lists proof nodes in the order the reference's GenerateProof emits them,
// which is the order its verifier consumes them.
type proofWriter struct {
	t     *paddedTree
	idx   []uint64
	next  int
	top   uint
	nodes [][]byte
	err   error
}

// walk climbs from the next proven leaf to height stop, emitting each sibling unless the
// sibling subtree holds the following proven leaf, whose walk then supplies it.
func (w *proofWriter) walk(stop uint) {
	j := w.idx[w.next]
	w.next++
	for h := uint(0); h != stop && h < w.top && w.err == nil; h++ {
		s := j ^ 1
		if w.next < len(w.idx) && w.idx[w.next]>>h == s {
			w.walk(h)
		} else {
			var n Node
			if err := w.t.node(h, s, &n); err != nil {
				w.err = err
				return
			}
			w.nodes = append(w.nodes, n[:])
		}
		j >>= 1
	}
}

// Verify checks a proof of the given number of leaves for a statement. It accepts
// exactly the proofs the reference verifier accepts (and rejects any with more than
// MaxProofNodes nodes, which nodes cannot take); it never panics.
func Verify(stmt []byte, p *Proof, leaves uint64) error {
	if p == nil {
		return fmt.Errorf("%w: no proof", ErrMalformed)
	}
	if len(p.ProvenLeaves) != T {
		return fmt.Errorf("%w: %d proven leaves, want %d", ErrMalformed, len(p.ProvenLeaves), T)
	}
	if len(p.ProofNodes) > MaxProofNodes {
		return fmt.Errorf("%w: %d proof nodes, at most %d", ErrMalformed, len(p.ProofNodes), MaxProofNodes)
	}
	idx := FiatShamir(p.Root, leaves, T)
	if len(idx) != len(p.ProvenLeaves) {
		return fmt.Errorf("%w: %d leaves open %d indices, the proof has %d labels", ErrMalformed, leaves, len(idx), len(p.ProvenLeaves))
	}
	h := NewHasher(stmt)
	v := validator{h: h, idx: idx, leaves: p.ProvenLeaves, nodes: p.ProofNodes}
	root, snaps := v.climb(^uint(0))
	if !bytes.Equal(root, p.Root) {
		return ErrRootMismatch
	}
	if len(snaps) != len(p.ProvenLeaves) {
		return fmt.Errorf("%w: proof nodes cover %d of %d leaves", ErrMalformed, len(snaps), len(p.ProvenLeaves))
	}
	var l Node
	for k, i := range idx {
		h.LabelFrom(&l, i, snaps[k])
		if !bytes.Equal(l[:], p.ProvenLeaves[k]) {
			return fmt.Errorf("%w: leaf %d", ErrBadLabel, i)
		}
	}
	return nil
}

// validator recomputes a root from proven leaves and proof nodes, recording for each
// leaf the left siblings of its ancestors (its parked nodes when it was added).
type validator struct {
	h      *Hasher
	idx    []uint64
	leaves [][]byte
	next   int
	nodes  [][]byte
	used   int
}

// climb consumes the next leaf and climbs until height stop (or, at the top, until the
// proof nodes run out), recursing into sibling subtrees that hold further leaves.
func (v *validator) climb(stop uint) ([]byte, [][][]byte) {
	pos := v.idx[v.next]
	node := v.leaves[v.next]
	v.next++
	snaps := [][][]byte{nil}
	var sub [][][]byte
	var sibling []byte
	for h := uint(0); h != stop; h++ {
		if v.next < len(v.idx) && shr(v.idx[v.next], h) == pos^1 {
			sibling, sub = v.climb(h)
		} else {
			if v.used == len(v.nodes) {
				break
			}
			sibling = v.nodes[v.used]
			v.used++
		}
		var out Node
		if pos&1 == 1 {
			for k := range snaps {
				snaps[k] = append(snaps[k], sibling)
			}
			v.h.Merkle(&out, sibling, node)
		} else {
			for k := range sub {
				sub[k] = append(sub[k], node)
			}
			snaps = append(snaps, sub...)
			sub = nil
			v.h.Merkle(&out, node, sibling)
		}
		node = out[:]
		pos >>= 1
	}
	return node, snaps
}

func shr(x uint64, h uint) uint64 {
	if h >= 64 {
		return 0
	}
	return x >> h
}
