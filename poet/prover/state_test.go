package prover

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// goldenState is the state.bin of a finished round, as this service wrote it before the
// XDR moved to proofcodec (the reference's layout, reference-poet.md §6.8): the start
// time, then the execution with a 5-byte statement (padded), 2^33 leaves and the proof.
const goldenState = "0000001e" + "323032362d31322d30335431363a30303a30302e3030303030303132335a0000" +
	"00000001" + "00000096" + "00000000" + "000000050102030405000000" + "00000000" + "0000000200000000" +
	"00000001" + "00000003aabbcc00" + "00000002" + "0000000101000000" + "000000020203" + "0000" +
	"00000002" + "00000000" + "000000050405060708000000"

func goldenStateValue() *State {
	return &State{ExecutionStarted: time.Date(2026, 12, 3, 16, 0, 0, 123, time.UTC), Execution: &Execution{
		SecurityParam: 150, Members: [][]byte{}, Statement: []byte{1, 2, 3, 4, 5}, ParkedNodes: [][]byte{}, NumLeaves: 1 << 33,
		NIP: &posw.Proof{Root: []byte{0xaa, 0xbb, 0xcc}, ProvenLeaves: [][]byte{{1}, {2, 3}}, ProofNodes: [][]byte{{}, {4, 5, 6, 7, 8}}}}}
}

// A finished round's state encodes to the golden bytes and decodes from them; the
// unfinished round written by the reference itself is TestReferenceStateFile.
func TestStateGolden(t *testing.T) {
	want, err := hex.DecodeString(goldenState)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := goldenStateValue().MarshalBinary(); !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	var s State
	if err := s.UnmarshalBinary(want); err != nil || !reflect.DeepEqual(&s, goldenStateValue()) {
		t.Fatalf("decoded %+v, %v", s.Execution, err)
	}
	// Damage: every cut, a trailing byte, a security parameter over 255, a boolean 2.
	for cut := range len(want) {
		if err := new(State).UnmarshalBinary(want[:cut]); !errors.Is(err, ErrCorruptState) {
			t.Errorf("cut to %d bytes: %v", cut, err)
		}
	}
	for name, bad := range map[string][]byte{
		"trailing byte": append(bytes.Clone(want), 0),
		"parameter 256": bytes.Replace(bytes.Clone(want), []byte{0, 0, 0, 0x96}, []byte{0, 0, 1, 0}, 1),
		"boolean 2":     bytes.Replace(bytes.Clone(want), []byte{0, 0, 0, 1, 0, 0, 0, 0x96}, []byte{0, 0, 0, 2, 0, 0, 0, 0x96}, 1),
		"not a time":    bytes.Replace(bytes.Clone(want), []byte("2026-12"), []byte("2026x12"), 1),
	} {
		if err := new(State).UnmarshalBinary(bad); !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// BenchmarkStateDecode reads the state.bin of a finished round of 2^40 leaves: 150
// proven leaves and about 150·40 proof nodes, what a restart reads before it serves.
func BenchmarkStateDecode(b *testing.B) {
	const leaves, nodes = 150, 150 * 40
	buf := make([]byte, 32*(leaves+nodes+1))
	_, _ = rand.Read(buf)
	list := func(n int) [][]byte {
		l := make([][]byte, n)
		for i := range l {
			l[i], buf = buf[:32:32], buf[32:]
		}
		return l
	}
	s := State{ExecutionStarted: time.Date(2026, 12, 3, 16, 0, 0, 123, time.UTC), Execution: &Execution{
		SecurityParam: posw.T, Members: [][]byte{}, Statement: stmt, ParkedNodes: [][]byte{}, NumLeaves: 1 << 40,
		NIP: &posw.Proof{Root: stmt, ProvenLeaves: list(leaves), ProofNodes: list(nodes)}}}
	rec, _ := s.MarshalBinary()
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		var got State
		if err := got.UnmarshalBinary(rec); err != nil {
			b.Fatal(err)
		}
	}
}
