package posw

import (
	"crypto/sha256"
	"encoding/binary"
)

// oracle is a naive PoSW straight from the definition, on crypto/sha256, sharing no
// code with the package: every node is computed recursively and memoised.
type oracle struct {
	stmt   []byte
	labels [][]byte
	memo   map[[2]uint64][]byte
}

func newOracle(stmt []byte, n uint64) *oracle {
	o := &oracle{stmt: stmt, memo: map[[2]uint64][]byte{}}
	for i := uint64(0); i < n; i++ {
		msg := append([]byte{}, stmt...)
		msg = binary.BigEndian.AppendUint64(msg, i)
		for h := uint(0); h < 64; h++ {
			if i&(1<<h) != 0 {
				msg = append(msg, o.complete(h, (i>>h)-1)...)
			}
		}
		d := sha256.Sum256(msg)
		for k := 1; k < LabelHashes; k++ {
			d = sha256.Sum256(d[:])
		}
		o.labels = append(o.labels, d[:])
	}
	return o
}

func (o *oracle) merkle(l, r []byte) []byte {
	d := sha256.Sum256(append(append(append([]byte{}, o.stmt...), l...), r...))
	return d[:]
}

// complete is a node whose leaves all exist.
func (o *oracle) complete(h uint, j uint64) []byte {
	if h == 0 {
		return o.labels[j]
	}
	k := [2]uint64{uint64(h), j}
	if v, ok := o.memo[k]; ok {
		return v
	}
	v := o.merkle(o.complete(h-1, 2*j), o.complete(h-1, 2*j+1))
	o.memo[k] = v
	return v
}

// padded is a node of the zero-padded tree over the first n leaves.
func (o *oracle) padded(h uint, j, n uint64) []byte {
	first := j << h
	if first >= n {
		return make([]byte, 32)
	}
	if first+(1<<h) <= n {
		return o.complete(h, j)
	}
	return o.merkle(o.padded(h-1, 2*j, n), o.padded(h-1, 2*j+1, n))
}

func (o *oracle) root(n uint64) []byte {
	h := uint(0)
	for (uint64(1) << h) < n {
		h++
	}
	return o.padded(h, 0, n)
}
