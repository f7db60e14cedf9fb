package posw

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
)

func katStatement() []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

// The known-answer vectors of reference-poet.md §6.2, produced by the reference code.
func TestKnownAnswers(t *testing.T) {
	h := NewHasher(katStatement())
	mem := NewMemoryLayers(0)
	b := NewBuilder(h, mem)
	for b.Leaves() < 8 {
		b.AddLeaf()
	}
	labels := map[uint64]string{
		0: "47c40cc58fe073826e6e4cb5134e24986e3ca7c0ae7505d0a1ea69a6b32d3ead",
		1: "ae4f56680960e48516decdd2fcfa8ed7efb013268fc98cf16b0dcf3aa0fcee01",
		2: "651c141f4ccb63049c315ccba8f8807b48b06cdb8d19f57dce689d78c58938f2",
		3: "0d399443cc38836b52ff8dd950793b75bfe752a55926ea4dea06cfda6ac3fb47",
		7: "2278ab90b1051870e7cfb24ab0778c72df442fdcf0d3c4a9257a4b3d357575c7",
	}
	for i, want := range labels {
		var got Node
		if err := mem.ReadNode(0, i, &got); err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("label %d = %x, want %s", i, got, want)
		}
	}
	roots := map[uint64]string{
		2: "9fbb65376222d61925252cc1d58f395ca261f140793a41e838f899f4e9c15d8a",
		3: "092a8a3d954599ad99f583ba21aec7257caf9b37da5f099e8b2c46088c69abe7",
		5: "646ae6f94b5356567359c425135f248523bfe237ff8e9dd39357ce86f262a409",
		8: "c5f2ef57e35fdce825f314016cbe5f5478e763b5408b80c9ae8ed06dc5c188b1",
	}
	for n, want := range roots {
		got, err := Root(h, mem, n)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("root(%d) = %x, want %s", n, got, want)
		}
	}
	fs := FiatShamir(testutil.MustHex(t, roots[8]), 1_000_000, 5)
	if want := []uint64{140577, 305142, 322526, 487161, 663456}; !slices.Equal(fs, want) {
		t.Errorf("FiatShamir = %v, want %v", fs, want)
	}
}

func TestFiatShamirSmallTrees(t *testing.T) {
	for _, n := range []uint64{0, 1, 149, 150, 151} {
		got := FiatShamir(make([]byte, 32), n, T)
		want := min(n, T)
		if uint64(len(got)) != want || !slices.IsSorted(got) {
			t.Fatalf("n=%d: %d indices, want %d sorted", n, len(got), want)
		}
		for k := 1; k < len(got); k++ {
			if got[k] == got[k-1] || got[k] >= n {
				t.Fatalf("n=%d: bad index list %v", n, got)
			}
		}
	}
}

func sizes(rng *rand.Rand) []uint64 {
	out := []uint64{150, 151, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097}
	for range 6 {
		out = append(out, 150+rng.Uint64N(5000-150+1))
	}
	return out
}

// Against the naive oracle: the root, the opened labels and a proof the verifier
// accepts, for random sizes and the edges around powers of two.
func TestProveMatchesOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ns := sizes(rng)
	if testing.Short() {
		ns = ns[:6]
	}
	stmts := [][]byte{katStatement(), nil, []byte("1234567890abcdefghij")}
	for k, n := range ns {
		stmt := stmts[k%len(stmts)]
		o := newOracle(stmt, n)
		p, err := Prove(stmt, n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.Root, o.root(n)) {
			t.Fatalf("n=%d: root %x, oracle %x", n, p.Root, o.root(n))
		}
		for j, i := range FiatShamir(p.Root, n, T) {
			if !bytes.Equal(p.ProvenLeaves[j], o.labels[i]) {
				t.Fatalf("n=%d: label %d differs from the oracle", n, i)
			}
		}
		if len(p.ProofNodes) > MaxProofNodes {
			t.Fatalf("n=%d: %d proof nodes", n, len(p.ProofNodes))
		}
		if err := Verify(stmt, p, n); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if err := Verify(stmt, p, n+1); err == nil {
			t.Fatalf("n=%d: accepted for n+1 leaves", n)
		}
	}
}

// With every leaf opened, the only siblings left are the zero padding of the top levels.
func TestProofOf150Leaves(t *testing.T) {
	p, err := Prove(katStatement(), 150)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ProofNodes) != 4 {
		t.Fatalf("%d proof nodes, want 4", len(p.ProofNodes))
	}
	for _, n := range p.ProofNodes {
		if !bytes.Equal(n, make([]byte, 32)) {
			t.Fatalf("proof node %x is not padding", n)
		}
	}
}

func TestProveNeedsTLeaves(t *testing.T) {
	if _, err := Prove(nil, 149); err == nil {
		t.Fatal("a proof of 149 leaves was generated")
	}
}

func cloneProof(p *Proof) *Proof {
	c := &Proof{Root: bytes.Clone(p.Root)}
	for _, l := range p.ProvenLeaves {
		c.ProvenLeaves = append(c.ProvenLeaves, bytes.Clone(l))
	}
	for _, n := range p.ProofNodes {
		c.ProofNodes = append(c.ProofNodes, bytes.Clone(n))
	}
	return c
}

func TestVerifyRejectsMutations(t *testing.T) {
	stmt := katStatement()
	const n = 700
	p, err := Prove(stmt, n)
	if err != nil {
		t.Fatal(err)
	}
	mutations := map[string]func(*Proof){
		"root bit":        func(p *Proof) { p.Root[5] ^= 1 },
		"root short":      func(p *Proof) { p.Root = p.Root[:31] },
		"root nil":        func(p *Proof) { p.Root = nil },
		"first leaf bit":  func(p *Proof) { p.ProvenLeaves[0][0] ^= 0x80 },
		"last leaf bit":   func(p *Proof) { p.ProvenLeaves[T-1][31] ^= 1 },
		"leaf long":       func(p *Proof) { p.ProvenLeaves[3] = append(p.ProvenLeaves[3], 0) },
		"leaves swapped":  func(p *Proof) { p.ProvenLeaves[1], p.ProvenLeaves[2] = p.ProvenLeaves[2], p.ProvenLeaves[1] },
		"too few leaves":  func(p *Proof) { p.ProvenLeaves = p.ProvenLeaves[:T-1] },
		"too many leaves": func(p *Proof) { p.ProvenLeaves = append(p.ProvenLeaves, p.ProvenLeaves[0]) },
		"no leaves":       func(p *Proof) { p.ProvenLeaves = nil },
		"node bit":        func(p *Proof) { p.ProofNodes[len(p.ProofNodes)/2][7] ^= 4 },
		"node dropped":    func(p *Proof) { p.ProofNodes = p.ProofNodes[:len(p.ProofNodes)-1] },
		"node extra":      func(p *Proof) { p.ProofNodes = append(p.ProofNodes, make([]byte, 32)) },
		"nodes swapped":   func(p *Proof) { p.ProofNodes[0], p.ProofNodes[1] = p.ProofNodes[1], p.ProofNodes[0] },
		"no nodes":        func(p *Proof) { p.ProofNodes = nil },
		"node short":      func(p *Proof) { p.ProofNodes[0] = p.ProofNodes[0][:16] },
		"too many nodes":  func(p *Proof) { p.ProofNodes = make([][]byte, MaxProofNodes+1) },
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			c := cloneProof(p)
			mutate(c)
			if err := Verify(stmt, c, n); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	for _, leaves := range []uint64{0, 1, 149, n - 1, n + 1, 1 << 40} {
		if err := Verify(stmt, p, leaves); err == nil {
			t.Fatalf("accepted for %d leaves", leaves)
		}
	}
	if err := Verify(append(bytes.Clone(stmt), 0), p, n); err == nil {
		t.Fatal("accepted for another statement")
	}
	if err := Verify(stmt, nil, n); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nil proof: %v", err)
	}
	if err := Verify(stmt, p, n); err != nil {
		t.Fatalf("the original was mutated: %v", err)
	}
}
