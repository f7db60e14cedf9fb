package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
)

// eachKernel runs f once per kernel available on this machine, with that kernel active.
func eachKernel(t testing.TB, f func(t testing.TB)) {
	t.Helper()
	saved := active
	defer func() { active = saved }()
	for _, k := range kernels {
		active = k
		f(t)
	}
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
	eachKernel(t, func(tb testing.TB) {
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
	eachKernel(t, func(tb testing.TB) {
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
	eachKernel(t, func(tb testing.TB) {
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
	eachKernel(t, func(tb testing.TB) {
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
	if got, want := Implementation(), kernels[0].String(); got != want {
		t.Fatalf("Implementation() = %q, want %q", got, want)
	}
	if last := kernels[len(kernels)-1]; last != kernelGeneric {
		t.Fatalf("last kernel %s, want generic", last)
	}
	t.Logf("kernels on this machine: %v, in use: %s", kernels, Implementation())
}

// TestKernelsDiffer guards against the tests above running one kernel several times: each
// kernel switch must reach a different name, and every name must be known.
func TestKernelsDiffer(t *testing.T) {
	seen := make(map[string]bool)
	eachKernel(t, func(tb testing.TB) {
		name := Implementation()
		if seen[name] {
			tb.Fatalf("kernel %s listed twice", name)
		}
		seen[name] = true
	})
	if len(seen) != len(kernels) {
		t.Fatalf("ran %d kernels, want %d", len(seen), len(kernels))
	}
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
		eachKernel(t, func(tb testing.TB) {
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
	saved := active
	defer func() { active = saved }()
	for _, k := range kernels {
		b.Run(k.String(), func(b *testing.B) { active = k; f(b) })
	}
}

// BenchmarkChain measures one chained compression per kernel, and crypto/sha256.Sum256 of
// a 32-byte value (what the reference runs per step) as "stdlib".
func BenchmarkChain(b *testing.B) {
	const n = 4096
	benchKernels(b, func(b *testing.B) {
		var x [32]byte
		for b.Loop() {
			Chain(&x, n)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/compression")
	})
	b.Run("stdlib", func(b *testing.B) {
		var x [32]byte
		for b.Loop() {
			for range n {
				x = sha256.Sum256(x[:])
			}
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
