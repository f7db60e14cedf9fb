package registration

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"
)

// The store is one bbolt file:
//
//	meta/
//	  schema                 1 byte: storeSchema
//	  pow_challenge          the current PoW challenge
//	  pow_challenge_previous the previous PoW challenge (absent until the first rotation)
//	  open_from              BE64: the first round not closed; every round below it is closed
//	rounds/
//	  <BE64 round>/          one bucket per round the registry opened or registered into:
//	    <node ID> → challenge
//	proofs/
//	  <BE64 round>           an encoded StoredProof (encodeProof)
//
// Round keys are big-endian so that buckets list in round order. Members are read in
// key order, ascending node ID: the order the membership root hashes and the order
// /v1/proofs returns.
var (
	bucketMeta   = []byte("meta")
	bucketRounds = []byte("rounds")
	bucketProofs = []byte("proofs")

	keySchema       = []byte("schema")
	keyPowCurrent   = []byte("pow_challenge")
	keyPowPrevious  = []byte("pow_challenge_previous")
	keyOpenFrom     = []byte("open_from")
	storeSchemaByte = []byte{storeSchema}
)

// storeSchema is the version of the layout above.
const storeSchema = 1

// roundKey is a round's key in rounds/ and proofs/.
func roundKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, n)
}

// parseRoundKey is the inverse of roundKey.
func parseRoundKey(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("round key %x is not 8 bytes", k)
	}
	return binary.BigEndian.Uint64(k), nil
}

// The first byte of an encoded proof. Format 1 (written before checksums) is still read;
// format 2 adds a CRC-32C of everything before it, checked on every read.
const (
	proofFormatV1 = 1
	proofFormat   = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeProof serializes a proof: format byte, uvarint leaves, then the root, the proven
// leaves, the proof nodes and the members, each byte string and each list prefixed with
// its uvarint length, then the big-endian CRC-32C of all of it.
func encodeProof(p *StoredProof) []byte {
	size := 20 + len(p.Proof.Root)
	for _, l := range [][][]byte{p.Proof.ProvenLeaves, p.Proof.ProofNodes, p.Members} {
		size += 4
		for _, b := range l {
			size += 2 + len(b)
		}
	}
	out := make([]byte, 0, size)
	out = append(out, proofFormat)
	out = binary.AppendUvarint(out, p.Leaves)
	out = appendBytes(out, p.Proof.Root)
	for _, l := range [][][]byte{p.Proof.ProvenLeaves, p.Proof.ProofNodes, p.Members} {
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

// ErrCorruptProof reports a stored proof that does not decode or whose checksum does
// not match: the bytes on disk changed after they were written.
var ErrCorruptProof = errors.New("corrupt stored proof")

// decodeProof is the inverse of encodeProof; it copies out of data.
func decodeProof(round uint64, data []byte) (*StoredProof, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w of round %d: empty", ErrCorruptProof, round)
	}
	switch data[0] {
	case proofFormatV1:
	case proofFormat:
		if len(data) < 5 {
			return nil, fmt.Errorf("%w of round %d: %d bytes", ErrCorruptProof, round, len(data))
		}
		body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
		if got := crc32.Checksum(body, castagnoli); got != sum {
			return nil, fmt.Errorf("%w of round %d: checksum %08x, stored %08x", ErrCorruptProof, round, got, sum)
		}
		data = body
	default:
		return nil, fmt.Errorf("%w of round %d: format %d", ErrCorruptProof, round, data[0])
	}
	d := proofReader{buf: data[1:]}
	p := &StoredProof{Round: round, Leaves: d.uvarint()}
	p.Proof.Root = d.bytes()
	lists := []*[][]byte{&p.Proof.ProvenLeaves, &p.Proof.ProofNodes, &p.Members}
	for _, l := range lists {
		n := d.uvarint()
		if n > uint64(len(d.buf)) { // every entry takes at least one byte
			d.err = true
		}
		if d.err {
			break
		}
		*l = make([][]byte, n)
		for i := range *l {
			(*l)[i] = d.bytes()
		}
	}
	if d.err || len(d.buf) != 0 {
		return nil, fmt.Errorf("%w of round %d", ErrCorruptProof, round)
	}
	return p, nil
}

// proofReader reads encodeProof's fields; err latches the first failure.
type proofReader struct {
	buf []byte
	err bool
}

func (r *proofReader) byte() byte {
	if len(r.buf) == 0 {
		r.err = true
		return 0
	}
	b := r.buf[0]
	r.buf = r.buf[1:]
	return b
}

func (r *proofReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *proofReader) bytes() []byte {
	n := r.uvarint()
	if r.err || n > uint64(len(r.buf)) {
		r.err = true
		return nil
	}
	b := append([]byte{}, r.buf[:n]...)
	r.buf = r.buf[n:]
	return b
}

// readMembers lists a round's challenges in key order; a round without a bucket has none.
func readMembers(tx *bolt.Tx, round uint64) [][]byte {
	b := tx.Bucket(bucketRounds).Bucket(roundKey(round))
	if b == nil {
		return nil
	}
	var members [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		members = append(members, append([]byte(nil), v...))
	}
	return members
}
