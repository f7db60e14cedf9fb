package posw

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// T is the number of leaves a proof opens (the reference's shared.T).
const T = 150

// FiatShamir derives the indices of the leaves a proof with the given root opens, in
// ascending order: SHA-256(root ‖ BE32(k)) for k = 0, 1, …, the first 8 bytes as a
// big-endian number modulo leaves, until t distinct indices are found. When t exceeds
// leaves every index is returned.
func FiatShamir(root []byte, leaves uint64, t int) []uint64 {
	if t <= 0 || leaves == 0 {
		return []uint64{}
	}
	if uint64(t) > leaves {
		all := make([]uint64, leaves)
		for i := range all {
			all[i] = uint64(i)
		}
		return all
	}
	seen := make(map[uint64]struct{}, t)
	out := make([]uint64, 0, t)
	buf := make([]byte, len(root)+4)
	copy(buf, root)
	for k := uint32(0); len(out) < t; k++ {
		binary.BigEndian.PutUint32(buf[len(root):], k)
		d := sha256.Sum256(buf)
		idx := binary.BigEndian.Uint64(d[:8]) % leaves
		if _, dup := seen[idx]; dup {
			continue
		}
		seen[idx] = struct{}{}
		out = append(out, idx)
	}
	slices.Sort(out)
	return out
}
