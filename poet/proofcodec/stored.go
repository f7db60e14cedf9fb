package proofcodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// Stored is a finished round's proof as the registry stores it (registrations.db,
// bucket proofs, keyed by the round).
type Stored struct {
	Leaves  uint64
	Proof   posw.Proof
	Members [][]byte
}

// The first byte of a stored proof. Format 1 (written before checksums) is still read;
// format 2 adds a CRC-32C of everything before it, checked on every read.
const (
	storedFormatV1 = 1
	storedFormat   = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeStored encodes a proof in format 2: the format byte, the uvarint leaves, then
// the root, the proven leaves, the proof nodes and the members, each byte string and
// each list prefixed with its uvarint length, then the big-endian CRC-32C of all of it.
func EncodeStored(s *Stored) []byte {
	lists := [3][][]byte{s.Proof.ProvenLeaves, s.Proof.ProofNodes, s.Members}
	size := 20 + len(s.Proof.Root)
	for _, l := range lists {
		size += 4
		for _, b := range l {
			size += 2 + len(b)
		}
	}
	out := make([]byte, 0, size)
	out = append(out, storedFormat)
	out = binary.AppendUvarint(out, s.Leaves)
	out = appendBytes(out, s.Proof.Root)
	for _, l := range lists {
		out = binary.AppendUvarint(out, uint64(len(l)))
		for _, b := range l {
			out = appendBytes(out, b)
		}
	}
	return binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

func appendBytes(out, b []byte) []byte {
	return append(binary.AppendUvarint(out, uint64(len(b))), b...)
}

// ErrCorrupt reports a stored proof that does not decode or whose checksum does not
// match: the bytes on disk changed after they were written.
var ErrCorrupt = errors.New("corrupt stored proof")

// DecodeStored decodes a proof of either format; it copies out of data. Every failure
// is an ErrCorrupt.
func DecodeStored(data []byte) (*Stored, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	switch data[0] {
	case storedFormatV1:
	case storedFormat:
		if len(data) < 5 {
			return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(data))
		}
		body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
		if got := crc32.Checksum(body, castagnoli); got != sum {
			return nil, fmt.Errorf("%w: checksum %08x, stored %08x", ErrCorrupt, got, sum)
		}
		data = body
	default:
		return nil, fmt.Errorf("%w: format %d", ErrCorrupt, data[0])
	}
	r := storedReader{buf: data[1:]}
	s := &Stored{Leaves: r.uvarint()}
	s.Proof.Root = r.bytes()
	for _, l := range []*[][]byte{&s.Proof.ProvenLeaves, &s.Proof.ProofNodes, &s.Members} {
		n := r.uvarint()
		if n > uint64(len(r.buf)) { // every entry takes at least one byte
			r.err = true
		}
		if r.err {
			break
		}
		*l = make([][]byte, n)
		for i := range *l {
			(*l)[i] = r.bytes()
		}
	}
	if r.err || len(r.buf) != 0 {
		return nil, fmt.Errorf("%w: the fields do not fill the record", ErrCorrupt)
	}
	return s, nil
}

// storedReader reads EncodeStored's fields; err latches the first failure.
type storedReader struct {
	buf []byte
	err bool
}

func (r *storedReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *storedReader) bytes() []byte {
	n := r.uvarint()
	if r.err || n > uint64(len(r.buf)) {
		r.err = true
		return nil
	}
	b := append([]byte{}, r.buf[:n]...)
	r.buf = r.buf[n:]
	return b
}
