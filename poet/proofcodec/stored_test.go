package proofcodec

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
	"github.com/poet-operator/poet-operator/poet/posw"
)

// goldenStored is a format-2 record as the registry has written it since checksums came
// in: format, uvarint leaves (300), root, the lists with uvarint counts and lengths, then
// the CRC-32C. goldenStoredV1 is the same record in format 1, which has no checksum.
const (
	goldenStored = "02" + "ac02" + "03aabbcc" +
		"02" + "0101" + "020203" + // ProvenLeaves
		"02" + "00" + "050405060708" + // ProofNodes
		"01" + "020909" + // Members
		"3b0dde31"
	goldenStoredV1 = "01" + "ac02" + "03aabbcc" + "02" + "0101" + "020203" + "02" + "00" + "050405060708" + "01" + "020909"
	// goldenStoredEmpty is the record of an empty proof: every length 0.
	goldenStoredEmpty = "02" + "00" + "00" + "00" + "00" + "00" + "8ca6dc49"
)

func goldenStoredProof() *Stored {
	return &Stored{Leaves: 300, Proof: posw.Proof{Root: []byte{0xaa, 0xbb, 0xcc}, ProvenLeaves: [][]byte{{1}, {2, 3}}, ProofNodes: [][]byte{{}, {4, 5, 6, 7, 8}}},
		Members: [][]byte{{9, 9}}}
}

// The record encodes to the golden bytes, and both formats decode from theirs.
func TestStoredGolden(t *testing.T) {
	want := testutil.MustHex(t, goldenStored)
	if got := EncodeStored(goldenStoredProof()); !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	for _, rec := range []string{goldenStored, goldenStoredV1} {
		got, err := DecodeStored(testutil.MustHex(t, rec))
		if err != nil || !reflect.DeepEqual(got, goldenStoredProof()) {
			t.Fatalf("%s decodes to %+v, %v", rec, got, err)
		}
	}
	if got := EncodeStored(&Stored{}); !bytes.Equal(got, testutil.MustHex(t, goldenStoredEmpty)) {
		t.Fatalf("empty proof encoded %x", got)
	}
	if got, err := DecodeStored(testutil.MustHex(t, goldenStoredEmpty)); err != nil || got.Leaves != 0 || len(got.Proof.Root) != 0 || len(got.Members) != 0 {
		t.Fatalf("empty proof decodes to %+v, %v", got, err)
	}
}

// A stored proof of a real round round-trips, and decoding copies: the proof read does
// not change when the bytes it was read from do (bbolt's are only valid in their
// transaction).
func TestStoredRoundTrip(t *testing.T) {
	p, err := posw.Prove([]byte("0123456789abcdef0123456789abcdef"), 300)
	if err != nil {
		t.Fatal(err)
	}
	s := &Stored{Leaves: 300, Proof: *p, Members: [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}}
	rec := EncodeStored(s)
	got, err := DecodeStored(rec)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip: %v", err)
	}
	clear(rec)
	if !reflect.DeepEqual(got, s) {
		t.Fatal("the decoded proof aliases the record")
	}
}

// Every flipped bit, every cut and every unknown format is ErrCorrupt, never a proof.
func TestDecodeStoredRejectsDamage(t *testing.T) {
	rec := testutil.MustHex(t, goldenStored)
	for i := range rec {
		for bit := range 8 {
			bad := bytes.Clone(rec)
			bad[i] ^= 1 << bit
			if s, err := DecodeStored(bad); !errors.Is(err, ErrCorrupt) || s != nil {
				t.Errorf("bit %d of byte %d flipped: %+v, %v", bit, i, s, err)
			}
		}
	}
	for cut := range len(rec) {
		if s, err := DecodeStored(rec[:cut]); !errors.Is(err, ErrCorrupt) || s != nil {
			t.Errorf("cut to %d bytes: %+v, %v", cut, s, err)
		}
	}
	v1 := testutil.MustHex(t, goldenStoredV1)
	for cut := range len(v1) {
		if s, err := DecodeStored(v1[:cut]); !errors.Is(err, ErrCorrupt) || s != nil {
			t.Errorf("format 1 cut to %d bytes: %+v, %v", cut, s, err)
		}
	}
	if _, err := DecodeStored(append(bytes.Clone(v1), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("format 1 with a trailing byte: %v", err)
	}
	for _, format := range []byte{0, 3, 0xff} {
		bad := bytes.Clone(rec)
		bad[0] = format
		if _, err := DecodeStored(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("format %d: %v", format, err)
		}
	}
}

// FuzzDecodeStored: a record either is ErrCorrupt or decodes to a proof that encodes
// (in format 2) to a record decoding to the same proof.
func FuzzDecodeStored(f *testing.F) {
	f.Add(testutil.MustHex(f, goldenStored))
	f.Add(testutil.MustHex(f, goldenStoredV1))
	f.Add(testutil.MustHex(f, goldenStoredEmpty))
	f.Add([]byte{})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeStored(b)
		if err != nil {
			if s != nil || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%v with %+v", err, s)
			}
			return
		}
		again, err := DecodeStored(EncodeStored(s))
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("re-encoded proof decodes to %+v, %v", again, err)
		}
	})
}
