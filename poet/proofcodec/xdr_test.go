package proofcodec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
	"github.com/poet-operator/poet-operator/poet/posw"
)

// goldenProofData is a proofData record as the reference writes it (reference-poet.md
// §6.8), written by the independent encoder the import tests used before this package
// existed: every field, odd lengths (padding), an empty opaque and a uint64 above 2^32.
const goldenProofData = "00000003aabbcc00" + // Root
	"00000002" + "0000000101000000" + "000000020203" + "0000" + // ProvenLeaves
	"00000002" + "00000000" + "000000050405060708000000" + // ProofNodes
	"00000001" + "0000000209090000" + // Members
	"000000000000012c" + // NumLeaves
	"0000000407070707" + // ServicePubKey
	"0000000231320000" // RoundID

func goldenData() *ProofData {
	return &ProofData{
		Proof:   posw.Proof{Root: []byte{0xaa, 0xbb, 0xcc}, ProvenLeaves: [][]byte{{1}, {2, 3}}, ProofNodes: [][]byte{{}, {4, 5, 6, 7, 8}}},
		Members: [][]byte{{9, 9}}, Leaves: 300, ServicePubkey: []byte{7, 7, 7, 7}, RoundID: "12",
	}
}

// The reference's record encodes to the golden bytes and decodes from them; the
// MerkleProof alone is the record's first fields.
func TestProofDataGolden(t *testing.T) {
	want := testutil.MustHex(t, goldenProofData)
	var w Writer
	AppendProofData(&w, goldenData())
	if !bytes.Equal(w.Bytes(), want) {
		t.Fatalf("encoded\n%x\nwant\n%x", w.Bytes(), want)
	}
	got, err := DecodeProofData(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, goldenData()) {
		t.Fatalf("decoded %+v", got)
	}
	var mw Writer
	AppendMerkleProof(&mw, &goldenData().Proof)
	if !bytes.HasPrefix(want, mw.Bytes()) || len(mw.Bytes()) != 4+4+4+8+6+2+4+4+12 {
		t.Fatalf("MerkleProof %x is not the record's first %d bytes", mw.Bytes(), len(mw.Bytes()))
	}
	r := NewReader(want)
	if p := ReadMerkleProof(r); r.Err() != nil || !reflect.DeepEqual(p, goldenData().Proof) || len(r.b) != len(want)-len(mw.Bytes()) {
		t.Fatalf("ReadMerkleProof: %+v, %v, %d bytes left", p, r.Err(), len(r.b))
	}
	if root, err := ProofDataRoot(want); err != nil || !bytes.Equal(root, []byte{0xaa, 0xbb, 0xcc}) {
		t.Fatalf("ProofDataRoot: %x, %v", root, err)
	}
}

// Damage is an error, never a partial record: a cut anywhere, trailing bytes, a length
// past the end, a count larger than the bytes left can hold.
func TestDecodeProofDataRejectsDamage(t *testing.T) {
	p, _ := posw.Prove(nil, 150)
	var w Writer
	AppendProofData(&w, &ProofData{Proof: *p, Members: [][]byte{}, Leaves: 150, ServicePubkey: make([]byte, 32), RoundID: "3"})
	rec := w.Bytes()
	if _, err := DecodeProofData(rec); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{0, 1, 4, len(rec) / 2, len(rec) - 1} {
		if d, err := DecodeProofData(rec[:cut]); err == nil || d != nil || !errors.Is(err, ErrMalformedXDR) {
			t.Errorf("a record cut to %d bytes: %v, %v", cut, d, err)
		}
	}
	if _, err := DecodeProofData(append(bytes.Clone(rec), 0, 0, 0, 0)); !errors.Is(err, ErrMalformedXDR) {
		t.Errorf("trailing bytes: %v", err)
	}
	if _, err := DecodeProofData(binary.BigEndian.AppendUint32(nil, 0xffffffff)); !errors.Is(err, ErrMalformedXDR) {
		t.Errorf("a length past the record: %v", err)
	}
	// Root "", then a list of 2^32-1 elements in 8 bytes.
	huge := append(binary.BigEndian.AppendUint32(nil, 0), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0)
	if _, err := DecodeProofData(huge); !errors.Is(err, ErrMalformedXDR) {
		t.Errorf("a count past the record: %v", err)
	}
}

// The reader's rules, one by one: padding is required (its bytes are not checked),
// booleans are 0 or 1, the first failure latches and is the one reported.
func TestReader(t *testing.T) {
	var w Writer
	w.Opaque([]byte{1, 2, 3, 4, 5})
	w.Bool(true)
	w.Bool(false)
	w.Opaque(nil)
	w.List(nil)
	w.Uint64(1 << 40)
	if want := "00000005" + "0102030405000000" + "00000001" + "00000000" + "00000000" + "00000000" + "0000010000000000"; hex.EncodeToString(w.Bytes()) != want {
		t.Fatalf("wrote %x, want %s", w.Bytes(), want)
	}
	r := NewReader(w.Bytes())
	o, t1, f, e, l, u := r.Opaque(), r.Bool(), r.Bool(), r.Opaque(), r.List(), r.Uint64()
	if err := r.End(); err != nil || !bytes.Equal(o, []byte{1, 2, 3, 4, 5}) || !t1 || f || e == nil || len(e) != 0 || l == nil || len(l) != 0 || u != 1<<40 {
		t.Fatalf("read %x %v %v %x %v %d: %v", o, t1, f, e, l, u, err)
	}

	// Nonzero padding reads as the reference reads it.
	if o := NewReader(testutil.MustHex(t, "0000000101ffffff")).Opaque(); !bytes.Equal(o, []byte{1}) {
		t.Fatalf("nonzero padding: %x", o)
	}
	// Missing padding does not.
	r = NewReader(testutil.MustHex(t, "0000000101"))
	if o := r.Opaque(); o != nil || !errors.Is(r.Err(), ErrMalformedXDR) {
		t.Fatalf("missing padding: %x %v", o, r.Err())
	}
	r = NewReader(testutil.MustHex(t, "0000000200000000"))
	if r.Bool() || !errors.Is(r.Err(), ErrMalformedXDR) {
		t.Fatalf("boolean 2: %v", r.Err())
	}
	if r.Uint32() != 0 || r.Opaque() != nil || r.List() != nil || r.End().Error() != "malformed XDR: boolean 2" {
		t.Fatalf("after a failure: %v", r.Err())
	}
	// A caller's own failure latches the same way.
	r = NewReader(testutil.MustHex(t, "00000007"))
	mine := errors.New("mine")
	r.Fail(mine)
	if r.Uint32() != 0 || r.End() != mine {
		t.Fatalf("Fail: %v", r.Err())
	}
	// Nothing read aliases the input.
	in := testutil.MustHex(t, "0000000101000000")
	o = NewReader(in).Opaque()
	in[4] = 9
	if o[0] != 1 {
		t.Fatal("Opaque aliases its input")
	}
}

// FuzzXDRMerkleProof: whatever decodes re-encodes to as many bytes as it was read from,
// and those decode to the same proof; nothing panics or allocates past the input.
func FuzzXDRMerkleProof(f *testing.F) {
	rec := testutil.MustHex(f, goldenProofData)
	f.Add(rec)
	f.Add(rec[:36])
	f.Add([]byte{})
	f.Add(testutil.MustHex(f, "00000000"+"ffffffff"))
	f.Add(testutil.MustHex(f, "00000000"+"00000000"+"00000000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		p := ReadMerkleProof(r)
		if r.Err() != nil {
			return
		}
		var w Writer
		AppendMerkleProof(&w, &p)
		if len(w.Bytes()) != len(b)-len(r.b) {
			t.Fatalf("read %d bytes, re-encoded %d", len(b)-len(r.b), len(w.Bytes()))
		}
		r = NewReader(w.Bytes())
		if again := ReadMerkleProof(r); r.End() != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("re-encoded proof decodes to %+v, %v", again, r.Err())
		}
	})
}

// FuzzDecodeProofData: a record that decodes re-encodes to its own length (the padding
// may differ), and that decodes to the same record.
func FuzzDecodeProofData(f *testing.F) {
	rec := testutil.MustHex(f, goldenProofData)
	f.Add(rec)
	f.Add(rec[:len(rec)-1])
	f.Add(append(bytes.Clone(rec), 0, 0, 0, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeProofData(b)
		if err != nil {
			if d != nil || !errors.Is(err, ErrMalformedXDR) {
				t.Fatalf("%v with %+v", err, d)
			}
			return
		}
		var w Writer
		AppendProofData(&w, d)
		if len(w.Bytes()) != len(b) {
			t.Fatalf("%d bytes re-encoded as %d", len(b), len(w.Bytes()))
		}
		if again, err := DecodeProofData(w.Bytes()); err != nil || !reflect.DeepEqual(again, d) {
			t.Fatalf("re-encoded record decodes to %+v, %v", again, err)
		}
	})
}
