package posw

import (
	"fmt"
	"math/bits"
)

// NodeSink receives every complete node of a growing tree: height 0 is the labels.
// Nodes of one height arrive in index order.
type NodeSink interface {
	AppendNode(height uint, n *Node)
}

// NodeReader reads complete nodes: node j of height h exists once the tree has
// (j+1)·2^h leaves.
type NodeReader interface {
	ReadNode(height uint, j uint64, out *Node) error
}

// Builder appends labels to a tree one leaf at a time, keeping the parked nodes the next
// label depends on and handing every complete node to a sink.
type Builder struct {
	h      *Hasher
	sink   NodeSink
	leaves uint64
	parked Parked
}

// NewBuilder starts an empty tree.
func NewBuilder(h *Hasher, sink NodeSink) *Builder {
	return &Builder{h: h, sink: sink}
}

// ResumeBuilder continues a tree of the given number of leaves from its parked nodes.
func ResumeBuilder(h *Hasher, sink NodeSink, leaves uint64, parked *Parked) *Builder {
	return &Builder{h: h, sink: sink, leaves: leaves, parked: *parked}
}

// Leaves is the number of leaves added so far.
func (b *Builder) Leaves() uint64 { return b.leaves }

// AddLeaf computes the next label and adds it, completing the nodes above it.
func (b *Builder) AddLeaf() {
	var n Node
	i := b.leaves
	b.h.Label(&n, i, &b.parked)
	b.sink.AppendNode(0, &n)
	h := uint(0)
	for ; i&1 == 1; i >>= 1 {
		b.h.Merkle(&n, b.parked[h][:], n[:])
		h++
		b.sink.AppendNode(h, &n)
	}
	b.parked[h] = n
	b.leaves++
}

// Height is the height of the root of a tree of n leaves: ceil(log2 n), 0 for one leaf.
func Height(n uint64) uint {
	if n <= 1 {
		return 0
	}
	return uint(bits.Len64(n - 1))
}

// paddedTree evaluates any node of the zero-padded tree of n leaves from the complete
// nodes a NodeReader has, hashing the incomplete nodes of the right edge on demand.
type paddedTree struct {
	h    *Hasher
	r    NodeReader
	n    uint64
	edge [MaxHeight + 1]*Node // memoised incomplete nodes, one per height at most
}

func (t *paddedTree) node(h uint, j uint64, out *Node) error {
	if h >= MaxHeight {
		return fmt.Errorf("node at height %d is beyond any tree", h)
	}
	complete := t.n >> h
	if j < complete {
		if err := t.r.ReadNode(h, j, out); err != nil {
			return fmt.Errorf("reading node %d at height %d: %w", j, h, err)
		}
		return nil
	}
	if j > complete || t.n&(1<<h-1) == 0 {
		*out = Node{}
		return nil
	}
	if m := t.edge[h]; m != nil {
		*out = *m
		return nil
	}
	var l, r Node
	if err := t.node(h-1, 2*j, &l); err != nil {
		return err
	}
	if err := t.node(h-1, 2*j+1, &r); err != nil {
		return err
	}
	t.h.Merkle(out, l[:], r[:])
	m := *out
	t.edge[h] = &m
	return nil
}

// Root computes the root of the tree of n leaves whose complete nodes r holds.
func Root(h *Hasher, r NodeReader, n uint64) (Node, error) {
	if n == 0 {
		return Node{}, fmt.Errorf("a tree needs at least one leaf")
	}
	return (&paddedTree{h: h, r: r, n: n}).root()
}

// root is the node at the top of the padded tree.
func (t *paddedTree) root() (Node, error) {
	var root Node
	err := t.node(Height(t.n), 0, &root)
	return root, err
}
