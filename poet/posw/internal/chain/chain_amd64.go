//go:build !purego

package chain

// kernels lists the kernels this CPU can run, fastest first; the generic one is last.
var kernels = detectKernels()

func detectKernels() []kernel {
	var ks []kernel
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf >= 7 {
		_, _, ecx1, _ := cpuid(1, 0)
		_, ebx7, _, _ := cpuid(7, 0)
		const (
			ssse3   = 1 << 9      // leaf 1 ECX
			sse41   = 1 << 19     // leaf 1 ECX
			osxsave = 1 << 27     // leaf 1 ECX: the OS has enabled XGETBV
			avx     = 1 << 28     // leaf 1 ECX
			bmi2    = 1 << 8      // leaf 7 EBX
			sha     = 1 << 29     // leaf 7 EBX
			xmmYmm  = 1<<1 | 1<<2 // XCR0: the OS saves SSE and AVX state
		)
		if ecx1&ssse3 != 0 && ecx1&sse41 != 0 && ebx7&sha != 0 {
			ks = append(ks, kernelSHANI)
		}
		if ecx1&osxsave != 0 && ecx1&avx != 0 && ebx7&bmi2 != 0 {
			if xcr0, _ := xgetbv(); xcr0&xmmYmm == xmmYmm {
				ks = append(ks, kernelAVX)
			}
		}
	}
	return append(ks, kernelGeneric)
}

// xgetbv reads extended control register 0 (XCR0); call it only if CPUID reports OSXSAVE.
func xgetbv() (eax, edx uint32)

// cpuid executes CPUID with EAX=leaf, ECX=sub.
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// hashBlocksSHANI starts from the IV, compresses nblocks padded 64-byte blocks at p,
// applies SHA-256 extra more times to the 32-byte digest and writes it to out.
//
//go:noescape
func hashBlocksSHANI(out *[32]byte, p *byte, nblocks int, extra int)

// hashBlocksAVX is hashBlocksSHANI for CPUs with AVX and BMI2 but without the SHA
// extensions.
//
//go:noescape
func hashBlocksAVX(out *[32]byte, p *byte, nblocks int, extra int)

// hashBlocks computes SHA256^(1+extra) of the message padded into p (len(p) a nonzero
// multiple of 64).
func hashBlocks(out *[32]byte, p []byte, extra int) {
	switch active {
	case kernelSHANI:
		hashBlocksSHANI(out, &p[0], len(p)/64, extra)
	case kernelAVX:
		hashBlocksAVX(out, &p[0], len(p)/64, extra)
	default:
		hashBlocksGeneric(out, p, extra)
	}
}
