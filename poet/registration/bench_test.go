package registration

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkSubmitParallel measures acknowledged registrations per second with 64
// concurrent clients (the reference's figure in reference-poet.md §12.1), with Run's
// group commit and real fsync, into an empty round and into one already holding
// 100,000 members. Requests are signed before the timer starts; each op is one fresh,
// fully verified registration (ed25519 signature and a difficulty-0 PoW).
func BenchmarkSubmitParallel(b *testing.B) {
	for _, prefill := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("members=%d", prefill), func(b *testing.B) {
			cfg := Config{PowDifficulty: 0, MaxRoundMembers: 1 << 32}
			env := newEnv(b, cfg)
			if prefill > 0 {
				fillRound(b, env, prefill, false)
			}
			r := env.open(b)
			run(b, r)
			reqs := make([]SubmitRequest, b.N)
			for i := range reqs {
				reqs[i] = newNode(uint64(i)).request(r, challenge(uint64(i)))
			}
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			b.SetParallelism(32) // 32 × GOMAXPROCS(2) = 64 clients on this VM
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					start := time.Now()
					if _, err := r.Submit(context.Background(), reqs[i]); err != nil {
						b.Error(err)
						return
					}
					lat[i] = time.Since(start)
				}
			})
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "regs/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			batches := histogramCount(b, env, "poet_round_batch_write_latency_seconds")
			b.ReportMetric(float64(b.N)/float64(max(batches, 1)), "regs/batch")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// fillRound writes n random registrations into round 0 directly: in the random order
// registrations arrive in, or sorted into full pages (bbolt splits nodes only at commit,
// so a million random keys in one transaction cost O(n²)).
func fillRound(b *testing.B, env *testEnv, n int, sorted bool) {
	b.Helper()
	buf := make([]byte, 64*n)
	_, _ = rand.Read(buf)
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = buf[64*i : 64*i+64]
	}
	if sorted {
		slices.SortFunc(keys, func(x, y []byte) int { return bytes.Compare(x[:32], y[:32]) })
	}
	db, err := bolt.Open(env.path, 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		rounds, err := tx.CreateBucketIfNotExists(bucketRounds)
		if err != nil {
			return err
		}
		bucket, err := rounds.CreateBucketIfNotExists(roundKey(0))
		if err != nil {
			return err
		}
		if sorted {
			bucket.FillPercent = 1
		}
		for _, k := range keys {
			if err := bucket.Put(k[:32], k[32:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
