package proofcodec

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// The reference writes its files in XDR (RFC 4506, nullstyle/go-xdr), as
// reference-poet.md §6.8 lists: uint8 and uint32 are 4 bytes big-endian, uint64 8
// bytes, []byte and string a 4-byte length then the bytes padded with zeros to a
// multiple of 4, [][]byte a 4-byte count then each element, a pointer a 4-byte boolean
// then the value when it is 1, a struct its fields in order.

// Writer appends XDR values to a buffer.
type Writer struct {
	b []byte
}

// Bytes returns what was written.
func (w *Writer) Bytes() []byte { return w.b }

// Uint32 writes v.
func (w *Writer) Uint32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }

// Uint64 writes v.
func (w *Writer) Uint64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }

// Bool writes v as 1 or 0, as a pointer's presence is written.
func (w *Writer) Bool(v bool) {
	if v {
		w.Uint32(1)
	} else {
		w.Uint32(0)
	}
}

// Opaque writes variable-length opaque data (a []byte or a string).
func (w *Writer) Opaque(p []byte) {
	w.Uint32(uint32(len(p)))
	w.b = append(w.b, p...)
	w.b = append(w.b, make([]byte, pad(len(p)))...)
}

// List writes a [][]byte.
func (w *Writer) List(items [][]byte) {
	w.Uint32(uint32(len(items)))
	for _, it := range items {
		w.Opaque(it)
	}
}

// pad is the number of zero bytes after n bytes of opaque data.
func pad(n int) int { return (4 - n%4) % 4 }

// ErrMalformedXDR reports bytes that are not the XDR a Reader was asked to read.
var ErrMalformedXDR = errors.New("malformed XDR")

// Reader reads XDR values. The first failure latches: every later read returns a zero
// value, and Err reports the failure. What it returns never aliases its input.
type Reader struct {
	b   []byte
	err error
}

// NewReader returns a Reader of b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err is the first failure, or nil.
func (r *Reader) Err() error { return r.err }

// Fail latches err as the reader's failure unless one is latched already: the caller
// found a value it cannot accept, and nothing after it is read.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// End is Err, and a failure if bytes are left after the value read.
func (r *Reader) End() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformedXDR, len(r.b))
	}
	return r.err
}

func (r *Reader) failf(format string, args ...any) {
	r.Fail(fmt.Errorf("%w: "+format, append([]any{ErrMalformedXDR}, args...)...))
}

func (r *Reader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.failf("needs %d more bytes, has %d", n, len(r.b))
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

// Uint32 reads a uint32 (or a uint8, which XDR writes as one).
func (r *Reader) Uint32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

// Uint64 reads a uint64.
func (r *Reader) Uint64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// Bool reads a boolean; anything but 0 and 1 is a failure.
func (r *Reader) Bool() bool {
	switch v := r.Uint32(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		r.failf("boolean %d", v)
		return false
	}
}

// Opaque reads variable-length opaque data into a new slice (empty, not nil, for no
// bytes). The padding must be there; its bytes are not checked, as the reference does
// not check them.
func (r *Reader) Opaque() []byte {
	n := r.Uint32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)) {
		r.failf("opaque of %d bytes, %d left", n, len(r.b))
		return nil
	}
	p := r.take(uint64(n))
	r.take(uint64(pad(int(n))))
	if r.err != nil {
		return nil
	}
	return append([]byte{}, p...)
}

// List reads a [][]byte. A count the bytes left cannot hold (every element takes at
// least 4) is a failure before anything is allocated.
func (r *Reader) List() [][]byte {
	n := r.Uint32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b))/4 {
		r.failf("list of %d items, %d bytes left", n, len(r.b))
		return nil
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = r.Opaque()
	}
	if r.err != nil {
		return nil
	}
	return out
}

// AppendMerkleProof writes the reference's MerkleProof{Root, ProvenLeaves, ProofNodes}.
func AppendMerkleProof(w *Writer, p *posw.Proof) {
	w.Opaque(p.Root)
	w.List(p.ProvenLeaves)
	w.List(p.ProofNodes)
}

// ReadMerkleProof reads what AppendMerkleProof writes.
func ReadMerkleProof(r *Reader) posw.Proof {
	return posw.Proof{Root: r.Opaque(), ProvenLeaves: r.List(), ProofNodes: r.List()}
}

// ProofData is the record of the reference's proofs database (LevelDB, keyed by the
// round ID): proofData{Proof{MerkleProof, Members, NumLeaves}, ServicePubKey, RoundID}.
type ProofData struct {
	Proof         posw.Proof
	Members       [][]byte
	Leaves        uint64
	ServicePubkey []byte
	// RoundID repeats the record's key.
	RoundID string
}

// AppendProofData writes d as the reference writes it.
func AppendProofData(w *Writer, d *ProofData) {
	AppendMerkleProof(w, &d.Proof)
	w.List(d.Members)
	w.Uint64(d.Leaves)
	w.Opaque(d.ServicePubkey)
	w.Opaque([]byte(d.RoundID))
}

// DecodeProofData decodes a whole record; bytes after it are a failure.
func DecodeProofData(b []byte) (*ProofData, error) {
	r := NewReader(b)
	d := &ProofData{Proof: ReadMerkleProof(r), Members: r.List(), Leaves: r.Uint64(), ServicePubkey: r.Opaque()}
	d.RoundID = string(r.Opaque())
	if err := r.End(); err != nil {
		return nil, fmt.Errorf("decoding the reference's proof record: %w", err)
	}
	return d, nil
}

// ProofDataRoot reads only a record's proof root, its first field, without reading
// the rest (a record of a million members is 34 MB).
func ProofDataRoot(b []byte) ([]byte, error) {
	r := NewReader(b)
	root := r.Opaque()
	return root, r.Err()
}
