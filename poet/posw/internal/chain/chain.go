// Package chain is the hashing kernel of the PoSW prover: SHA-256 of a message followed
// by a chain of further SHA-256 applications to the 32-byte digest.
package chain

import (
	"encoding/binary"
	"slices"
)

// Hasher computes SHA-256 of a message written to it, optionally followed by a chain of
// further SHA-256 applications to the 32-byte digest. It never allocates once its buffer has grown.
type Hasher struct {
	buf []byte // message; Sum pads it in place beyond len
}

// Reset empties the message.
func (h *Hasher) Reset() { h.buf = h.buf[:0] }

// Write appends p to the message.
func (h *Hasher) Write(p []byte) { h.buf = append(h.buf, p...) }

// WriteUint64 appends v to the message as 8 big-endian bytes.
func (h *Hasher) WriteUint64(v uint64) { h.buf = binary.BigEndian.AppendUint64(h.buf, v) }

// Sum writes SHA256^(1+extra)(message) to out: the digest of the message, then extra
// more SHA-256 applications of the 32-byte digest. The message is left unchanged (Sum
// may be called again). Sum panics if extra is negative.
func (h *Hasher) Sum(out *[32]byte, extra int) {
	if extra < 0 {
		panic("chain: negative extra")
	}
	n := len(h.buf)
	padded := (n + 9 + 63) &^ 63
	h.buf = slices.Grow(h.buf, padded-n)
	b := h.buf[:padded]
	b[n] = 0x80
	clear(b[n+1 : padded-8])
	binary.BigEndian.PutUint64(b[padded-8:], uint64(n)<<3)
	hashBlocks(out, b, extra)
}

// Chain applies SHA-256 n times to the 32-byte value in x, in place (x = SHA256^n(x)).
// This is the bare kernel whose speed is the ceiling of the prover. Chain panics if n is
// negative.
func Chain(x *[32]byte, n int) {
	if n <= 0 {
		if n < 0 {
			panic("chain: negative n")
		}
		return
	}
	var b [64]byte
	copy(b[:32], x[:])
	b[32] = 0x80
	b[62] = 1 // bit length 256
	hashBlocks(x, b[:], n-1)
}

// kernel identifies an implementation of hashBlocks.
type kernel uint8

const (
	kernelGeneric kernel = iota // pure Go
	kernelSHANI                 // amd64 SHA extensions
	kernelAVX                   // amd64 rounds with BMI2 RORX, schedule with AVX
)

func (k kernel) String() string {
	switch k {
	case kernelSHANI:
		return "sha-ni"
	case kernelAVX:
		return "avx-bmi2"
	default:
		return "generic"
	}
}

// active is the kernel hashBlocks uses: the first of kernels, the fastest this CPU can
// run. Tests set it to each of kernels in turn.
var active = kernels[0]

// Implementation names the kernel in use: "sha-ni", "avx-bmi2" or "generic".
func Implementation() string { return active.String() }
