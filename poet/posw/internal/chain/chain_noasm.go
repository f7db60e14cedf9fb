//go:build !amd64 || purego

package chain

// kernels has only the generic kernel: the assembly ones exist only on amd64.
var kernels = []kernel{kernelGeneric}

// hashBlocks computes SHA256^(1+extra) of the message padded into p (len(p) a nonzero
// multiple of 64).
func hashBlocks(out *[32]byte, p []byte, extra int) {
	hashBlocksGeneric(out, p, extra)
}
