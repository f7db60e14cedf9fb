package registration

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// maxPowDifficulty is the largest difficulty a 256-bit hash can meet.
const maxPowDifficulty = 8 * ripemd256Size

// powHash is RIPEMD-256(powChallenge ‖ nodeID ‖ poetChallenge ‖ LE64(nonce)).
func powHash(powChallenge, nodeID, poetChallenge []byte, nonce uint64) [ripemd256Size]byte {
	msg := make([]byte, 0, len(powChallenge)+len(nodeID)+len(poetChallenge)+8)
	msg = append(msg, powChallenge...)
	msg = append(msg, nodeID...)
	msg = append(msg, poetChallenge...)
	msg = binary.LittleEndian.AppendUint64(msg, nonce)
	return ripemd256(msg)
}

// leadingZeroBits reports whether the first d bits of h, most significant bit of byte 0
// first, are zero. A difficulty beyond the hash length always fails.
func leadingZeroBits(h []byte, d uint32) bool {
	if uint64(d) > 8*uint64(len(h)) {
		return false
	}
	for i := uint32(0); i < d/8; i++ {
		if h[i] != 0 {
			return false
		}
	}
	if r := d % 8; r != 0 && h[d/8]>>(8-r) != 0 {
		return false
	}
	return true
}

// equal reports whether two parameter sets are the same: difficulty and challenge bytes.
func (p PowParams) equal(o PowParams) bool {
	return p.Difficulty == o.Difficulty && bytes.Equal(p.Challenge, o.Challenge)
}

// verifyPow checks a registration's proof of work against the parameters it names,
// which must be the current or the previous ones.
func verifyPow(current PowParams, previous *PowParams, req *SubmitRequest) error {
	var params PowParams
	if req.PowParams != nil {
		params = *req.PowParams
	}
	if !params.equal(current) && (previous == nil || !params.equal(*previous)) {
		return fmt.Errorf("%w: neither the current nor the previous parameters", ErrInvalidPowParams)
	}
	if len(req.NodeID) != nodeIDSize {
		return fmt.Errorf("%w: node ID is %d bytes, want %d", ErrInvalidPow, len(req.NodeID), nodeIDSize)
	}
	h := powHash(params.Challenge, req.NodeID, req.Challenge, req.Nonce)
	if !leadingZeroBits(h[:], params.Difficulty) {
		return fmt.Errorf("%w: nonce %d does not give %d leading zero bits", ErrInvalidPow, req.Nonce, params.Difficulty)
	}
	return nil
}

// CheckPow reports whether nonce solves the proof of work for a node and challenge at
// a difficulty; clients (and load generators) count nonces up from 0 until it does.
func CheckPow(powChallenge, nodeID, poetChallenge []byte, nonce uint64, difficulty uint) bool {
	if difficulty > maxPowDifficulty {
		return false
	}
	h := powHash(powChallenge, nodeID, poetChallenge, nonce)
	return leadingZeroBits(h[:], uint32(difficulty))
}

// FindNonce is the smallest nonce that solves the proof of work, found as go-spacemesh
// searches: counting up from 0. The expected work doubles with each bit of difficulty;
// a difficulty no hash can meet is an error.
func FindNonce(powChallenge, nodeID, poetChallenge []byte, difficulty uint) (uint64, error) {
	if difficulty > maxPowDifficulty {
		return 0, fmt.Errorf("%w: difficulty %d is beyond the %d bits of the hash", ErrInvalidPowParams, difficulty, maxPowDifficulty)
	}
	nonce := uint64(0)
	for !CheckPow(powChallenge, nodeID, poetChallenge, nonce, difficulty) {
		nonce++
	}
	return nonce, nil
}
