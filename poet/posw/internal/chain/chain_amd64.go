//go:build !purego

package chain

// haveSHANI reports whether the CPU has the SHA extensions and the SSE levels the
// kernel uses.
var haveSHANI = detectSHANI()

// useSHANI selects the SHA-NI kernel; tests clear it to exercise the generic one.
var useSHANI = haveSHANI

func detectSHANI() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	_, ebx7, _, _ := cpuid(7, 0)
	const (
		ssse3 = 1 << 9  // leaf 1 ECX
		sse41 = 1 << 19 // leaf 1 ECX
		sha   = 1 << 29 // leaf 7 EBX
	)
	return ecx1&ssse3 != 0 && ecx1&sse41 != 0 && ebx7&sha != 0
}

// cpuid executes CPUID with EAX=leaf, ECX=sub.
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// hashBlocksSHANI starts from the IV, compresses nblocks padded 64-byte blocks at p,
// applies SHA-256 extra more times to the 32-byte digest and writes it to out.
//
//go:noescape
func hashBlocksSHANI(out *[32]byte, p *byte, nblocks int, extra int)

// hashBlocks computes SHA256^(1+extra) of the message padded into p (len(p) a nonzero
// multiple of 64).
func hashBlocks(out *[32]byte, p []byte, extra int) {
	if useSHANI {
		hashBlocksSHANI(out, &p[0], len(p)/64, extra)
		return
	}
	hashBlocksGeneric(out, p, extra)
}
