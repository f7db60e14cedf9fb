package registration

import (
	"bytes"
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/proofcodec"
)

// The proofs bucket holds proofcodec's stored record (its tests pin the bytes); a
// damaged one is ErrCorruptProof, which is proofcodec.ErrCorrupt, and names the round.
func TestStoredProofRecord(t *testing.T) {
	p := StoredProof{Round: 9, Leaves: 300, Proof: posw.Proof{Root: []byte{1}, ProvenLeaves: [][]byte{{2}}, ProofNodes: [][]byte{{3}}}, Members: [][]byte{{4}}}
	rec := encodeProof(&p)
	if want := proofcodec.EncodeStored(&proofcodec.Stored{Leaves: 300, Proof: p.Proof, Members: p.Members}); !bytes.Equal(rec, want) {
		t.Fatalf("record %x, want %x", rec, want)
	}
	got, err := decodeProof(9, rec)
	if err != nil || !reflect.DeepEqual(*got, p) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	rec[len(rec)/2] ^= 1
	_, err = decodeProof(9, rec)
	if !errors.Is(err, ErrCorruptProof) || !errors.Is(err, proofcodec.ErrCorrupt) || !strings.Contains(err.Error(), "round 9") {
		t.Fatalf("damaged record: %v", err)
	}
}

// benchStoredProof is a stored proof of a million members with the proof's usual shape
// (150 proven leaves, 150·32 proof nodes); its bytes are random, the codec does not look.
func benchStoredProof() *StoredProof {
	const members, leaves, nodes = 1_000_000, 150, 150 * 32
	buf := make([]byte, 32*(members+leaves+nodes+1))
	_, _ = rand.Read(buf)
	next := func() []byte { b := buf[:32:32]; buf = buf[32:]; return b }
	list := func(n int) [][]byte {
		l := make([][]byte, n)
		for i := range l {
			l[i] = next()
		}
		return l
	}
	return &StoredProof{Round: 7, Leaves: 1 << 32, Proof: posw.Proof{Root: next(), ProvenLeaves: list(leaves), ProofNodes: list(nodes)}, Members: list(members)}
}

// BenchmarkStoredProofEncode and BenchmarkStoredProofDecode are the proof record's share
// of saving and serving a round of a million members (about 33 MB).
func BenchmarkStoredProofEncode(b *testing.B) {
	p := benchStoredProof()
	b.SetBytes(int64(len(encodeProof(p))))
	for b.Loop() {
		encodeProof(p)
	}
}

func BenchmarkStoredProofDecode(b *testing.B) {
	rec := encodeProof(benchStoredProof())
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, err := decodeProof(7, rec); err != nil {
			b.Fatal(err)
		}
	}
}
