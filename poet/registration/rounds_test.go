package registration

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// provenRound is a valid proof of round with the given members and leaves.
func provenRound(t testing.TB, round uint64, members [][]byte, leaves uint64) StoredProof {
	t.Helper()
	if members == nil {
		members = [][]byte{}
	}
	p, err := posw.Prove(MembershipRoot(members), leaves)
	if err != nil {
		t.Fatal(err)
	}
	return StoredProof{Round: round, Proof: *p, Members: members, Leaves: leaves}
}

func TestCloseRoundRootAndOrder(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	// Registered in an order unrelated to node-ID order.
	var chs [][]byte
	for i := uint64(0); i < 9; i++ {
		n := newNode(i * 7 % 9)
		ch := challenge(100 + i)
		mustSubmit(t, r, n.request(r, ch))
		chs = append(chs, ch)
	}
	stmt, count, err := r.CloseRound(0)
	if err != nil || count != 9 {
		t.Fatalf("CloseRound: %d members, %v", count, err)
	}
	members, err := r.Members(0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stmt, MembershipRoot(members)) {
		t.Fatal("the statement is not the root of Members")
	}
	// Members come in node-ID order.
	type pair struct{ id, ch []byte }
	var want []pair
	for i := uint64(0); i < 9; i++ {
		want = append(want, pair{newNode(i * 7 % 9).pub, chs[i]})
	}
	slices.SortFunc(want, func(a, b pair) int { return bytes.Compare(a.id, b.id) })
	for i, p := range want {
		if !bytes.Equal(members[i], p.ch) {
			t.Fatalf("member %d is %x, want %x", i, members[i], p.ch)
		}
	}
	// Closing again (as after a restart) gives the same answer.
	stmt2, count2, err := r.CloseRound(0)
	if err != nil || count2 != 9 || !bytes.Equal(stmt2, stmt) {
		t.Fatalf("second CloseRound: %x %d %v", stmt2, count2, err)
	}
}

func TestCloseRoundEmpty(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	for _, n := range []uint64{0, 5} {
		stmt, count, err := r.CloseRound(n)
		if err != nil || count != 0 || stmt == nil || len(stmt) != 0 {
			t.Fatalf("CloseRound(%d) = %x (nil %v), %d, %v", n, stmt, stmt == nil, count, err)
		}
	}
	members, err := r.Members(3)
	if err != nil || len(members) != 0 {
		t.Fatalf("Members of an unknown round: %v %v", members, err)
	}
}

// Registrations racing CloseRound either make it into the root or go to a later round:
// none acknowledged into the round is missing from it, and none is added after.
func TestCloseRoundRacingSubmits(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	run(t, r)
	// Each client registers fresh nodes until it has had 5 acknowledged into round 1,
	// so the close lands while registrations are in flight whatever the timing.
	const clients = 8
	var (
		mu    sync.Mutex
		acked = map[uint64][][]byte{}
		count atomic.Int64
		wg    sync.WaitGroup
	)
	for c := range clients {
		wg.Go(func() {
			later := 0
			for i := uint64(0); later < 5; i++ {
				if i == 5000 {
					t.Errorf("client %d: no registration went to round 1", c)
					return
				}
				id := uint64(c)<<32 | i
				req := newNode(id).request(r, challenge(id))
				round, err := r.Submit(context.Background(), req)
				if err != nil {
					t.Errorf("Submit: %v", err)
					return
				}
				count.Add(1)
				if round > 0 {
					later++
				}
				mu.Lock()
				acked[round] = append(acked[round], req.Challenge)
				mu.Unlock()
			}
		})
	}
	for count.Load() < 200 {
		time.Sleep(100 * time.Microsecond)
	}
	stmt, n, err := r.CloseRound(0)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	members, err := r.Members(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != n || !bytes.Equal(MembershipRoot(members), stmt) {
		t.Fatalf("round 0 changed after closing: %d members at close, %d now", n, len(members))
	}
	sortBytes := func(s [][]byte) [][]byte {
		s = slices.Clone(s)
		slices.SortFunc(s, bytes.Compare)
		return s
	}
	if got, want := sortBytes(members), sortBytes(acked[0]); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("round 0 holds %d members, %d were acknowledged into it", len(got), len(want))
	}
	if len(acked[0]) < 200 || len(acked[1]) < 5*clients || len(acked) != 2 {
		t.Fatalf("acknowledged: round 0 %d, round 1 %d, %d rounds", len(acked[0]), len(acked[1]), len(acked))
	}
	if r.RoundMembers(1) != len(acked[1]) {
		t.Fatalf("round 1 has %d members, %d acknowledged", r.RoundMembers(1), len(acked[1]))
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	stop := run(t, r)
	for i := range uint64(20) {
		mustSubmit(t, r, newNode(i).request(r, challenge(i)))
	}
	stmt, _, err := r.CloseRound(0)
	if err != nil {
		t.Fatal(err)
	}
	// Still round 0 by the clock, but closed: registrations go to round 1.
	if round := mustSubmit(t, r, newNode(50).request(r, challenge(50))); round != 1 {
		t.Fatalf("after closing round 0, registered into %d", round)
	}
	if !r.RoundKnown(1) || r.RoundKnown(7) {
		t.Fatal("RoundKnown")
	}
	params := r.PowParams()
	stop()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	env.prom = newEnv(t, Config{}).prom
	r2 := env.open(t)
	if got := r2.RoundMembers(0); got != 20 {
		t.Fatalf("round 0 has %d members after reopening", got)
	}
	if got := counterValue(r2.m.members.WithLabelValues("0")); got != 20 {
		t.Fatalf("poet_round_members_total{id=0} = %v after reopening", got)
	}
	if got := r2.OpenRound(); got != 1 {
		t.Fatalf("open round %d after reopening", got)
	}
	if round := mustSubmit(t, r2, newNode(51).request(r2, challenge(51))); round != 1 {
		t.Fatalf("registered into %d after reopening", round)
	}
	if round := mustSubmit(t, r2, newNode(50).request(r2, challenge(50))); round != 1 {
		t.Fatalf("idempotent resubmission after reopening went to %d", round)
	}
	_, err = r2.Submit(context.Background(), newNode(50).request(r2, challenge(52)))
	wantErr(t, err, ErrConflictingRegistration)
	stmt2, n, err := r2.CloseRound(0)
	if err != nil || n != 20 || !bytes.Equal(stmt, stmt2) {
		t.Fatalf("CloseRound(0) after reopening: %d members, %v", n, err)
	}
	if got := r2.PowParams(); !bytes.Equal(got.Challenge, params.Challenge) {
		t.Fatal("the PoW challenge changed on reopening")
	}
	if !r2.RoundKnown(0) || !r2.RoundKnown(1) {
		t.Fatal("known rounds forgotten")
	}
}

func TestOpenKnowsOnlyTheOpenRound(t *testing.T) {
	env := newEnv(t, defaultConfig())
	env.clock.Set(testSchedule().RoundStart(4).Add(time.Minute)) // round 4 executes, 5 is open
	r := env.open(t)
	if r.RoundKnown(4) || !r.RoundKnown(5) {
		t.Fatalf("known: round 4 %v, round 5 %v", r.RoundKnown(4), r.RoundKnown(5))
	}
	if _, _, err := r.CloseRound(5); err != nil {
		t.Fatal(err)
	}
	if !r.RoundKnown(6) {
		t.Fatal("the round after a closed round is not open")
	}
}

func TestProofStore(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	_, err := r.Proof(0)
	wantErr(t, err, ErrProofNotFound)
	if n, ok, err := r.LatestProof(); ok || err != nil {
		t.Fatalf("latest proof of an empty store: %d %v %v", n, ok, err)
	}
	for i := range uint64(3) {
		mustSubmit(t, r, newNode(i).request(r, challenge(i)))
	}
	if _, _, err := r.CloseRound(0); err != nil {
		t.Fatal(err)
	}
	members, _ := r.Members(0)
	in := provenRound(t, 0, members, 200)
	in.Members = nil
	if err := r.SaveProof(in); err != nil { // nil Members: the round's
		t.Fatal(err)
	}
	explicit := StoredProof{Round: 1, Proof: posw.Proof{}, Members: [][]byte{}, Leaves: 0}
	if err := r.SaveProof(explicit); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := env.open(t)
	if n, ok, err := r2.LatestProof(); n != 1 || !ok || err != nil {
		t.Fatalf("latest proof after reopening: %d %v %v, want 1", n, ok, err)
	}
	got, err := r2.Proof(0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Round != 0 || got.Leaves != 200 || !bytes.Equal(got.Proof.Root, in.Proof.Root) ||
		!slices.EqualFunc(got.Proof.ProvenLeaves, in.Proof.ProvenLeaves, bytes.Equal) ||
		!slices.EqualFunc(got.Proof.ProofNodes, in.Proof.ProofNodes, bytes.Equal) ||
		!slices.EqualFunc(got.Members, members, bytes.Equal) {
		t.Fatalf("stored proof %+v", got)
	}
	got1, err := r2.Proof(1)
	if err != nil || len(got1.Members) != 0 || len(got1.Proof.Root) != 0 {
		t.Fatalf("empty proof: %+v %v", got1, err)
	}
	// The empty proof did not rotate the PoW challenge; the first one did.
	if p := r2.PowParams(); !bytes.Equal(p.Challenge, in.Proof.Root) {
		t.Fatalf("current challenge %x", p.Challenge)
	}
	_, err = r2.Proof(2)
	wantErr(t, err, ErrProofNotFound)
}

func TestPowChallengeRotationPersists(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	seed := r.PowParams().Challenge
	p := provenRound(t, 0, nil, 150)
	root := p.Proof.Root
	if err := r.SaveProof(p); err != nil {
		t.Fatal(err)
	}
	// Publishing the same proof again (recovery) does not rotate a second time.
	if err := r.SaveProof(p); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := env.open(t)
	cur, prev := r2.powParams()
	if !bytes.Equal(cur.Challenge, root) || prev == nil || !bytes.Equal(prev.Challenge, seed) {
		t.Fatalf("after reopening: current %x, previous %+v; want %x, %x", cur.Challenge, prev, root, seed)
	}
	req := newNode(1).request(r2, challenge(1))
	old := PowParams{Difficulty: 4, Challenge: seed}
	req.PowParams = &old
	req.Nonce = solvePow(old, req.NodeID, req.Challenge)
	mustSubmit(t, r2, req)
}

func TestOpenValidates(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"difficulty", Config{PowDifficulty: 257}},
		{"certifier key", Config{CertifierPubkey: make([]byte, 31)}},
		{"trusted keys dir", Config{TrustedKeysDir: dir + "/missing"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(dir+"/db", testSchedule(), tt.cfg); err == nil {
				t.Fatal("Open accepted a bad configuration")
			}
		})
	}
	s := testSchedule()
	s.EpochDuration = 0
	if _, err := Open(dir+"/db", s, defaultConfig()); err == nil {
		t.Fatal("Open accepted a bad schedule")
	}
	r, err := Open(dir+"/nested/dirs/db", testSchedule(), Config{PowDifficulty: 256})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestRunTwice(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	run(t, r)
	if err := r.Run(context.Background()); err == nil {
		t.Fatal("a second Run started")
	}
}

func TestRunFlushesOnShutdown(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	stop := run(t, r)
	req := newNode(1).request(r, challenge(1))
	r.commitMu.Lock() // keep the committer from committing
	done := submitQueued(context.Background(), r, req)
	r.commitMu.Unlock()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.RoundMembers(0) != 1 {
		t.Fatal("registration lost at shutdown")
	}
	// After Run, Submit commits by itself.
	mustSubmit(t, r, newNode(2).request(r, challenge(2)))
	if r.RoundMembers(0) != 2 {
		t.Fatal("Submit without Run")
	}
}
