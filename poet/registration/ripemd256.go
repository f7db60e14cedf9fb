package registration

import (
	"encoding/binary"
	"math/bits"
)

// RIPEMD-256 (Dobbertin, Bosselaers, Preneel, "RIPEMD-160: A Strengthened Version of
// RIPEMD", 1996, section on the 256-bit extension): RIPEMD-128's two parallel lines of
// four rounds, with the lines kept apart (eight chaining words) and one register pair
// exchanged after each round. Only the PoW hash uses it.

// ripemd256Size is the digest length in bytes.
const ripemd256Size = 32

// ripemd256Init are the chaining values before the first block: RIPEMD-128's four for
// the left line, then four more for the right line.
var ripemd256Init = [8]uint32{
	0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
	0x76543210, 0xfedcba98, 0x89abcdef, 0x01234567,
}

// Message word order (r, r') and rotation amounts (s, s') for the 64 steps of each line.
var (
	ripemdR = [64]uint8{
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		7, 4, 13, 1, 10, 6, 15, 3, 12, 0, 9, 5, 2, 14, 11, 8,
		3, 10, 14, 4, 9, 15, 8, 1, 2, 7, 0, 6, 13, 11, 5, 12,
		1, 9, 11, 10, 0, 8, 12, 4, 13, 3, 7, 15, 14, 5, 6, 2,
	}
	ripemdRP = [64]uint8{
		5, 14, 7, 0, 9, 2, 11, 4, 13, 6, 15, 8, 1, 10, 3, 12,
		6, 11, 3, 7, 0, 13, 5, 10, 14, 15, 8, 12, 4, 9, 1, 2,
		15, 5, 1, 3, 7, 14, 6, 9, 11, 8, 12, 2, 10, 0, 4, 13,
		8, 6, 4, 1, 3, 11, 15, 0, 5, 12, 2, 13, 9, 7, 10, 14,
	}
	ripemdS = [64]uint8{
		11, 14, 15, 12, 5, 8, 7, 9, 11, 13, 14, 15, 6, 7, 9, 8,
		7, 6, 8, 13, 11, 9, 7, 15, 7, 12, 15, 9, 11, 7, 13, 12,
		11, 13, 6, 7, 14, 9, 13, 15, 14, 8, 13, 6, 5, 12, 7, 5,
		11, 12, 14, 15, 14, 15, 9, 8, 9, 14, 5, 6, 8, 6, 5, 12,
	}
	ripemdSP = [64]uint8{
		8, 9, 9, 11, 13, 15, 15, 5, 7, 7, 8, 11, 14, 14, 12, 6,
		9, 13, 15, 7, 12, 8, 9, 11, 7, 7, 12, 7, 6, 15, 13, 11,
		9, 7, 15, 11, 8, 6, 6, 14, 12, 13, 5, 14, 13, 13, 7, 5,
		15, 5, 8, 11, 14, 14, 6, 14, 6, 9, 12, 9, 12, 5, 15, 8,
	}
	ripemdK  = [4]uint32{0x00000000, 0x5a827999, 0x6ed9eba1, 0x8f1bbcdc}
	ripemdKP = [4]uint32{0x50a28be6, 0x5c4dd124, 0x6d703ef3, 0x00000000}
)

// ripemdF is the boolean function of round j (0..3); the right line runs them backwards.
func ripemdF(j int, x, y, z uint32) uint32 {
	switch j {
	case 0:
		return x ^ y ^ z
	case 1:
		return (x & y) | (^x & z)
	case 2:
		return (x | ^y) ^ z
	default:
		return (x & z) | (y & ^z)
	}
}

// ripemd256Block compresses one 64-byte block into h.
func ripemd256Block(h *[8]uint32, block []byte) {
	var x [16]uint32
	for i := range x {
		x[i] = binary.LittleEndian.Uint32(block[4*i:])
	}
	a, b, c, d := h[0], h[1], h[2], h[3]
	ap, bp, cp, dp := h[4], h[5], h[6], h[7]
	for j := 0; j < 4; j++ {
		for i := 16 * j; i < 16*(j+1); i++ {
			t := bits.RotateLeft32(a+ripemdF(j, b, c, d)+x[ripemdR[i]]+ripemdK[j], int(ripemdS[i]))
			a, d, c, b = d, c, b, t
			t = bits.RotateLeft32(ap+ripemdF(3-j, bp, cp, dp)+x[ripemdRP[i]]+ripemdKP[j], int(ripemdSP[i]))
			ap, dp, cp, bp = dp, cp, bp, t
		}
		// The lines exchange one register after each round: A, then B, C and D.
		switch j {
		case 0:
			a, ap = ap, a
		case 1:
			b, bp = bp, b
		case 2:
			c, cp = cp, c
		case 3:
			d, dp = dp, d
		}
	}
	h[0] += a
	h[1] += b
	h[2] += c
	h[3] += d
	h[4] += ap
	h[5] += bp
	h[6] += cp
	h[7] += dp
}

// ripemd256 is the RIPEMD-256 digest of msg. Padding is MD4's: 0x80, zeros up to 56 mod
// 64, then the message length in bits as a little-endian 64-bit word.
func ripemd256(msg []byte) [ripemd256Size]byte {
	h := ripemd256Init
	n := len(msg)
	for len(msg) >= 64 {
		ripemd256Block(&h, msg[:64])
		msg = msg[64:]
	}
	var tail [128]byte
	k := copy(tail[:], msg)
	tail[k] = 0x80
	end := 64
	if k >= 56 {
		end = 128
	}
	binary.LittleEndian.PutUint64(tail[end-8:], uint64(n)<<3)
	for off := 0; off < end; off += 64 {
		ripemd256Block(&h, tail[off:off+64])
	}
	var out [ripemd256Size]byte
	for i, v := range h {
		binary.LittleEndian.PutUint32(out[4*i:], v)
	}
	return out
}
