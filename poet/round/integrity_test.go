package round

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/prover"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// Issue 10, row 6: poet was killed after the prover wrote the finished proof into
// state.bin and before the store commit, then one byte of that proof flipped. The
// restart stored and served it. Now the store refuses it (it does not verify) and the
// engine rebuilds the proof from the round's tree, so only a valid proof is served.
func TestDamagedProofInStateIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	s := schedule.Schedule{Genesis: time.Now().Add(-time.Hour), EpochDuration: 10 * time.Minute, PhaseShift: time.Minute, CycleGap: 2 * time.Minute}
	reg, err := registration.Open(filepath.Join(dir, "registrations.db"), s, registration.Config{PowDifficulty: 0, MaxRoundMembers: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	var members []registration.Member
	for i := range 3 {
		pub, _, _ := ed25519.GenerateKey(nil)
		members = append(members, registration.Member{NodeID: pub, Challenge: []byte{byte(i), 31: 1}})
	}
	if _, err := reg.ImportMembers(0, members); err != nil {
		t.Fatal(err)
	}
	ms, err := reg.Members(0)
	if err != nil || len(ms) != 3 {
		t.Fatalf("%d members: %v", len(ms), err)
	}
	stmt := registration.MembershipRoot(ms)

	// The round as the prover finished it: the proof is in state.bin.
	roundDir := filepath.Join(dir, "rounds", "0")
	const leaves = 3000
	if _, err := prover.Run(context.Background(), prover.Config{Dir: roundDir, Statement: stmt, Leaves: leaves, CheckpointInterval: time.Hour}); err != nil {
		t.Fatal(err)
	}
	st, err := prover.ReadState(roundDir)
	if err != nil || st.Execution.NIP == nil {
		t.Fatalf("no proof in state.bin: %v", err)
	}
	st.Execution.NIP.ProvenLeaves[42][5] ^= 0x10
	if err := prover.WriteState(roundDir, st); err != nil {
		t.Fatal(err)
	}

	e := New(engineConfig(dir, s), reg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(2 * time.Minute)
	var p *registration.StoredProof
	for {
		p, err = reg.Proof(0)
		if err == nil {
			break
		}
		if !errors.Is(err, registration.ErrProofNotFound) {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("the engine stopped without storing a proof: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no proof stored")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := registration.VerifyProof(p); err != nil {
		t.Fatalf("the stored proof does not verify: %v", err)
	}
	if p.Leaves < leaves || len(p.Members) != 3 {
		t.Fatalf("stored proof of %d leaves and %d members, want >= %d and 3", p.Leaves, len(p.Members), leaves)
	}
}
