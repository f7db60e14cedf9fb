//go:build !amd64 || purego

package chain

// haveSHANI is false: the SHA-NI kernel exists only on amd64.
const haveSHANI = false

// useSHANI is never set without the SHA-NI kernel; tests clear it.
var useSHANI = false

// hashBlocks computes SHA256^(1+extra) of the message padded into p (len(p) a nonzero
// multiple of 64).
func hashBlocks(out *[32]byte, p []byte, extra int) {
	hashBlocksGeneric(out, p, extra)
}
