package posw

import "testing"

type discard struct{}

func (discard) AppendNode(uint, *Node) {}

// BenchmarkAddLeaf is the prover's inner loop: one label and the nodes it completes.
func BenchmarkAddLeaf(b *testing.B) {
	bld := NewBuilder(NewHasher(katStatement()), discard{})
	for b.Loop() {
		bld.AddLeaf()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "leaves/s")
}

// BenchmarkGenerateProof opens a tree of 2^20 leaves held in memory.
func BenchmarkGenerateProof(b *testing.B) {
	h := NewHasher(katStatement())
	mem := fakeTree(b, h, 1<<20)
	for b.Loop() {
		if _, err := GenerateProof(h, mem, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	p, err := Prove(katStatement(), 5000)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := Verify(katStatement(), p, 5000); err != nil {
			b.Fatal(err)
		}
	}
}

// fakeTree fills memory layers with Merkle nodes over cheap stand-in labels: proof
// generation cost does not depend on how the labels were made.
func fakeTree(b *testing.B, h *Hasher, n uint64) *MemoryLayers {
	mem := NewMemoryLayers(0)
	var parked Parked
	for i := uint64(0); i < n; i++ {
		var node Node
		node[0], node[1], node[2] = byte(i), byte(i>>8), byte(i>>16)
		mem.AppendNode(0, &node)
		hh := uint(0)
		for x := i; x&1 == 1; x >>= 1 {
			h.Merkle(&node, parked[hh][:], node[:])
			hh++
			mem.AppendNode(hh, &node)
		}
		parked[hh] = node
	}
	return mem
}
