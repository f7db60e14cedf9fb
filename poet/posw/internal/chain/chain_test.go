package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
)

// kernels runs f once per kernel available on this machine.
func kernels(t testing.TB, f func(t testing.TB)) {
	t.Helper()
	saved := useSHANI
	defer func() { useSHANI = saved }()
	if haveSHANI {
		useSHANI = true
		f(t)
	}
	useSHANI = false
	f(t)
}

func stdChain(msg []byte, extra int) [32]byte {
	d := sha256.Sum256(msg)
	for range extra {
		d = sha256.Sum256(d[:])
	}
	return d
}

func TestSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	msgs := make([][]byte, 0, 310)
	for n := 0; n <= 300; n++ {
		m := make([]byte, n)
		for i := range m {
			m[i] = byte(rng.Uint32())
		}
		msgs = append(msgs, m)
	}
	for range 8 {
		m := make([]byte, 301+rng.IntN(2048-301))
		for i := range m {
			m[i] = byte(rng.Uint32())
		}
		msgs = append(msgs, m)
	}
	want := make(map[[2]int][32]byte)
	for i, m := range msgs {
		for _, extra := range []int{0, 1, 2, 3, 399} {
			want[[2]int{i, extra}] = stdChain(m, extra)
		}
	}
	kernels(t, func(tb testing.TB) {
		var h Hasher
		for i, m := range msgs {
			for _, extra := range []int{0, 1, 2, 3, 399} {
				h.Reset()
				// Split the writes to exercise appending.
				h.Write(m[:len(m)/3])
				h.Write(m[len(m)/3:])
				var got [32]byte
				h.Sum(&got, extra)
				if got != want[[2]int{i, extra}] {
					tb.Fatalf("%s: len %d extra %d: got %x, want %x", Implementation(), len(m), extra, got, want[[2]int{i, extra}])
				}
				// Sum leaves the message unchanged.
				var again [32]byte
				h.Sum(&again, extra)
				if again != got {
					tb.Fatalf("%s: len %d extra %d: second Sum %x, first %x", Implementation(), len(m), extra, again, got)
				}
			}
		}
	})
}

func TestWriteUint64(t *testing.T) {
	var h Hasher
	h.Write([]byte("stmt"))
	h.WriteUint64(0x0102030405060708)
	var got [32]byte
	h.Sum(&got, 0)
	want := sha256.Sum256([]byte("stmt\x01\x02\x03\x04\x05\x06\x07\x08"))
	if got != want {
		t.Fatalf("got %x, want %x", got, want)
	}
}

func TestChain(t *testing.T) {
	start := sha256.Sum256([]byte("chain"))
	kernels(t, func(tb testing.TB) {
		for _, n := range []int{0, 1, 2, 17, 400} {
			x := start
			Chain(&x, n)
			want := start
			for range n {
				want = sha256.Sum256(want[:])
			}
			if x != want {
				tb.Fatalf("%s: n %d: got %x, want %x", Implementation(), n, x, want)
			}
		}
	})
}

func TestKnownAnswer(t *testing.T) {
	var msg [40]byte
	for i := range 32 {
		msg[i] = byte(i)
	}
	const want = "47c40cc58fe073826e6e4cb5134e24986e3ca7c0ae7505d0a1ea69a6b32d3ead"
	kernels(t, func(tb testing.TB) {
		var h Hasher
		h.Write(msg[:32])
		h.WriteUint64(0)
		var got [32]byte
		h.Sum(&got, 399)
		if hex.EncodeToString(got[:]) != want {
			tb.Fatalf("%s: got %x, want %s", Implementation(), got, want)
		}
	})
}

func TestNegative(t *testing.T) {
	for name, f := range map[string]func(){
		"Sum":   func() { var h Hasher; var out [32]byte; h.Sum(&out, -1) },
		"Chain": func() { var x [32]byte; Chain(&x, -1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with a negative count did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestAllocs(t *testing.T) {
	msg := make([]byte, 300)
	kernels(t, func(tb testing.TB) {
		var h Hasher
		var out [32]byte
		h.Write(msg)
		h.Sum(&out, 1)
		allocs := testing.AllocsPerRun(100, func() {
			h.Reset()
			h.Write(msg[:40])
			h.WriteUint64(7)
			h.Write(msg)
			h.Sum(&out, 3)
			Chain(&out, 2)
		})
		if allocs != 0 {
			tb.Fatalf("%s: %v allocations per run, want 0", Implementation(), allocs)
		}
	})
}

func TestImplementation(t *testing.T) {
	want := "generic"
	if haveSHANI {
		want = "sha-ni"
	}
	if got := Implementation(); got != want {
		t.Fatalf("Implementation() = %q, want %q", got, want)
	}
	t.Logf("kernel: %s", Implementation())
}

func FuzzSum(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte("abc"), uint8(1))
	f.Add(make([]byte, 55), uint8(2))
	f.Add(make([]byte, 56), uint8(8))
	f.Add(make([]byte, 64), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, extra uint8) {
		e := int(extra % 9)
		want := stdChain(data, e)
		kernels(t, func(tb testing.TB) {
			var h Hasher
			h.Write(data)
			var got [32]byte
			h.Sum(&got, e)
			if got != want {
				tb.Fatalf("%s: len %d extra %d: got %x, want %x", Implementation(), len(data), e, got, want)
			}
		})
	})
}

// benchKernels runs f as a sub-benchmark per available kernel.
func benchKernels(b *testing.B, f func(b *testing.B)) {
	saved := useSHANI
	defer func() { useSHANI = saved }()
	if haveSHANI {
		b.Run("sha-ni", func(b *testing.B) { useSHANI = true; f(b) })
	}
	b.Run("generic", func(b *testing.B) { useSHANI = false; f(b) })
}

func BenchmarkChain(b *testing.B) {
	const n = 4096
	benchKernels(b, func(b *testing.B) {
		var x [32]byte
		for b.Loop() {
			Chain(&x, n)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/compression")
	})
}

func BenchmarkLabel(b *testing.B) {
	for _, size := range []int{40, 400} {
		msg := make([]byte, size)
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			benchKernels(b, func(b *testing.B) {
				var h Hasher
				var out [32]byte
				var i uint64
				for b.Loop() {
					h.Reset()
					h.Write(msg[:size-8])
					h.WriteUint64(i)
					h.Sum(&out, 399)
					i++
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/label")
			})
		})
	}
}

func BenchmarkLabelStdlib(b *testing.B) {
	for _, size := range []int{40, 400} {
		msg := make([]byte, size)
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			var i uint64
			for b.Loop() {
				binary.BigEndian.PutUint64(msg[size-8:], i)
				d := sha256.Sum256(msg)
				for range 399 {
					d = sha256.Sum256(d[:])
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/label")
		})
	}
}
