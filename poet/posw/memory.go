package posw

import "fmt"

const chunkNodes = 1 << 14 // 512 KiB chunks: growth never copies a layer

// MemoryLayers keeps the nodes of layers from a minimum height upwards in memory, in
// fixed-size chunks so that appending never copies a layer.
type MemoryLayers struct {
	min    uint
	layers [MaxHeight][][]Node
	counts [MaxHeight]uint64
}

// NewMemoryLayers keeps the layers at heights min and above.
func NewMemoryLayers(min uint) *MemoryLayers {
	return &MemoryLayers{min: min}
}

// AppendNode keeps a node of a height at or above the lowest kept; lower ones are ignored.
func (m *MemoryLayers) AppendNode(height uint, n *Node) {
	if height < m.min {
		return
	}
	c := m.counts[height]
	if c%chunkNodes == 0 {
		m.layers[height] = append(m.layers[height], make([]Node, chunkNodes))
	}
	m.layers[height][c/chunkNodes][c%chunkNodes] = *n
	m.counts[height] = c + 1
}

// ReadNode returns a kept node.
func (m *MemoryLayers) ReadNode(height uint, j uint64, out *Node) error {
	if height < m.min || height >= MaxHeight || j >= m.counts[height] {
		return fmt.Errorf("node %d at height %d is not in memory", j, height)
	}
	*out = m.layers[height][j/chunkNodes][j%chunkNodes]
	return nil
}

// Prove builds the whole tree of n leaves in memory and returns its proof. It suits
// tests and small trees; rounds use the prover package, which keeps low layers on disk.
func Prove(stmt []byte, n uint64) (*Proof, error) {
	h := NewHasher(stmt)
	mem := NewMemoryLayers(0)
	b := NewBuilder(h, mem)
	for b.Leaves() < n {
		b.AddLeaf()
	}
	return GenerateProof(h, mem, n)
}
