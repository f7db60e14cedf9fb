package registration

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/poet-operator/poet-operator/poet/proofcodec"
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
//	  <BE64 round>           an encoded StoredProof (proofcodec.EncodeStored)
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

// encodeProof is a proof's record in proofs/ (proofcodec.EncodeStored).
func encodeProof(p *StoredProof) []byte {
	return proofcodec.EncodeStored(&proofcodec.Stored{Leaves: p.Leaves, Proof: p.Proof, Members: p.Members})
}

// ErrCorruptProof reports a stored proof that does not decode or whose checksum does
// not match: the bytes on disk changed after they were written. It is the codec's
// proofcodec.ErrCorrupt, so errors.Is answers the same for either.
var ErrCorruptProof = proofcodec.ErrCorrupt

// decodeProof is the inverse of encodeProof; it copies out of data.
func decodeProof(round uint64, data []byte) (*StoredProof, error) {
	s, err := proofcodec.DecodeStored(data)
	if err != nil {
		return nil, fmt.Errorf("reading the proof of round %d: %w", round, err)
	}
	return &StoredProof{Round: round, Proof: s.Proof, Members: s.Members, Leaves: s.Leaves}, nil
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
