package registration

import (
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// BenchmarkPublishProof measures the registry's part of a round's end at a million
// members: the round engine lists the members and saves the proof (one fsynced
// transaction), then the server's first request reads it back. Each op publishes as
// another round, so nothing is found already stored.
func BenchmarkPublishProof(b *testing.B) {
	const members = 1_000_000
	env := newEnv(b, Config{MaxRoundMembers: 1 << 32})
	fillRound(b, env, members, true)
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
