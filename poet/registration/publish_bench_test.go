package registration

import (
	"bytes"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// BenchmarkPublishProof measures the registry's part of a round's end at a million
// members: the round engine lists the members and saves the proof (one fsynced
// transaction), then the server's first request reads it back. Each op publishes as
// another round, so nothing is found already stored.
func BenchmarkPublishProof(b *testing.B) {
	const members = 1_000_000
	env := newEnv(b, Config{MaxRoundMembers: 1 << 32})
	fillSorted(b, env, members)
	r := env.open(b)
	ms0, err := r.Members(0)
	if err != nil {
		b.Fatal(err)
	}
	// A valid proof of these members: SaveProof verifies (membership root and PoSW).
	p, err := posw.Prove(MembershipRoot(ms0), 150)
	if err != nil {
		b.Fatal(err)
	}
	var list, save, read time.Duration
	round := uint64(1)
	for b.Loop() {
		t0 := time.Now()
		ms, err := r.Members(0)
		if err != nil || len(ms) != members {
			b.Fatalf("%d members: %v", len(ms), err)
		}
		t1 := time.Now()
		if err := r.SaveProof(StoredProof{Round: round, Proof: *p, Members: ms, Leaves: 150}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		sp, err := r.Proof(round)
		if err != nil || len(sp.Members) != members {
			b.Fatalf("reading back: %v", err)
		}
		t3 := time.Now()
		list, save, read = list+t1.Sub(t0), save+t2.Sub(t1), read+t3.Sub(t2)
		round++
	}
	n := float64(b.N)
	b.ReportMetric(float64(list.Milliseconds())/n, "members-ms")
	b.ReportMetric(float64(save.Milliseconds())/n, "save-ms")
	b.ReportMetric(float64(read.Milliseconds())/n, "read-ms")
}

// fillSorted writes n random registrations into round 0 in key order: bbolt splits
// nodes only at commit, so random keys in one transaction cost O(n²).
func fillSorted(b *testing.B, env *testEnv, n int) {
	b.Helper()
	buf := make([]byte, 64*n)
	rand.Read(buf)
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = buf[64*i : 64*i+64]
	}
	slices.SortFunc(keys, func(x, y []byte) int { return bytes.Compare(x[:32], y[:32]) })
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
		bucket.FillPercent = 1
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
