package posw

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
)

var (
	fuzzOnce  sync.Once
	fuzzProof *Proof
)

const fuzzLeaves = 300

func validFuzzProof(t testing.TB) *Proof {
	fuzzOnce.Do(func() {
		p, err := Prove(katStatement(), fuzzLeaves)
		if err != nil {
			t.Fatal(err)
		}
		fuzzProof = p
	})
	return cloneProof(fuzzProof)
}

// FuzzVerifyArbitrary feeds the verifier proofs made of arbitrary bytes: it must reject
// them without panicking.
func FuzzVerifyArbitrary(f *testing.F) {
	f.Add([]byte{}, uint64(0), uint8(0))
	f.Add(bytes.Repeat([]byte{1}, 32*160), uint64(300), uint8(32))
	f.Add(bytes.Repeat([]byte{0}, 32*200), uint64(150), uint8(31))
	f.Fuzz(func(t *testing.T, data []byte, leaves uint64, size uint8) {
		sz := int(size)%64 + 1
		p := &Proof{}
		take := func() []byte {
			k := min(sz, len(data))
			b := data[:k]
			data = data[k:]
			return b
		}
		p.Root = take()
		for range T {
			p.ProvenLeaves = append(p.ProvenLeaves, take())
		}
		for len(data) > 0 {
			p.ProofNodes = append(p.ProofNodes, take())
		}
		if err := Verify(katStatement(), p, leaves%(1<<20)); err == nil {
			t.Fatalf("accepted an arbitrary proof")
		}
	})
}

// FuzzVerifyMutated flips bytes of a valid proof: any real change must be rejected.
func FuzzVerifyMutated(f *testing.F) {
	f.Add(uint32(0), byte(1), int8(0), int64(0))
	f.Add(uint32(40), byte(0x80), int8(1), int64(0))
	f.Add(uint32(7000), byte(3), int8(-1), int64(1))
	f.Fuzz(func(t *testing.T, at uint32, xor byte, nodesDelta int8, leavesDelta int64) {
		p := validFuzzProof(t)
		flat := append([][]byte{p.Root}, p.ProvenLeaves...)
		flat = append(flat, p.ProofNodes...)
		total := 32 * len(flat)
		pos := int(at) % total
		flat[pos/32][pos%32] ^= xor
		switch {
		case nodesDelta > 0:
			p.ProofNodes = append(p.ProofNodes, binary.BigEndian.AppendUint32(make([]byte, 28), at))
		case nodesDelta < 0 && len(p.ProofNodes) > 0:
			p.ProofNodes = p.ProofNodes[:len(p.ProofNodes)-1]
		}
		leaves := uint64(int64(fuzzLeaves) + leavesDelta%1000)
		changed := xor != 0 || nodesDelta != 0 || leaves != fuzzLeaves
		err := Verify(katStatement(), p, leaves)
		if changed && err == nil {
			t.Fatalf("accepted a mutated proof (at=%d xor=%d nodes%+d leaves=%d)", at, xor, nodesDelta, leaves)
		}
		if !changed && err != nil {
			t.Fatalf("rejected the valid proof: %v", err)
		}
	})
}
