package registration

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSubmitRegistersIntoOpenRound(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	n := newNode(1)
	if round := mustSubmit(t, r, n.request(r, challenge(1))); round != 0 {
		t.Fatalf("round %d, want 0", round)
	}
	env.clock.Set(genesis.Add(10 * time.Minute)) // round 0 starts; round 1 is open
	if round := mustSubmit(t, r, newNode(2).request(r, challenge(2))); round != 1 {
		t.Fatalf("round %d, want 1", round)
	}
	if got := r.RoundMembers(0); got != 1 {
		t.Fatalf("round 0 has %d members", got)
	}
	members, err := r.Members(0)
	if err != nil || len(members) != 1 || !bytes.Equal(members[0], challenge(1)) {
		t.Fatalf("Members(0) = %x, %v", members, err)
	}
	if got := counterValue(r.m.withPow.WithLabelValues("valid")); got != 2 {
		t.Fatalf("poet_registration_with_pow_total{valid} = %v", got)
	}
	if got := counterValue(r.m.members.WithLabelValues("0")); got != 1 {
		t.Fatalf("poet_round_members_total{0} = %v", got)
	}
}

// Each case breaks one check and every later one, so the first check wins: the order of
// reference-poet.md §1.3.
func TestSubmitErrorOrder(t *testing.T) {
	certPub, certPriv, _ := ed25519.GenerateKey(nil)
	cfg := defaultConfig()
	cfg.MaxRoundMembers = 1
	cfg.CertifierPubkey = certPub
	env := newEnv(t, cfg)
	r := env.open(t)
	n := newNode(1)
	// Fill the round with n's registration, so every later request is "full" too.
	mustSubmit(t, r, n.request(r, challenge(1)))

	past := genesis.Add(-time.Hour)
	badCert := &Certificate{Data: []byte{0x00, 0x00}, Signature: make([]byte, 64)}
	tests := []struct {
		name string
		edit func(*SubmitRequest)
		want error
		msg  string
	}{
		{"public key length", func(q *SubmitRequest) {
			q.NodeID = q.NodeID[:31]
			q.Signature[0] ^= 1
			q.Challenge = q.Challenge[:5]
		}, ErrInvalidPublicKey, "invalid public key"},
		{"signature", func(q *SubmitRequest) {
			q.Signature[0] ^= 1
			q.Challenge = q.Challenge[:5]
		}, ErrInvalidSignature, "invalid signature"},
		{"challenge too short", func(q *SubmitRequest) {
			q.Challenge = q.Challenge[:31]
			n.sign(q)
			q.CertificatePubkeyHint = []byte{1}
		}, ErrInvalidChallenge, "invalid challenge"},
		{"challenge too long", func(q *SubmitRequest) {
			q.Challenge = append(q.Challenge, 0)
			n.sign(q)
		}, ErrInvalidChallenge, "invalid challenge"},
		{"hint length", func(q *SubmitRequest) {
			q.CertificatePubkeyHint = []byte{1, 2, 3}
			q.Certificate = badCert
			q.Deadline = past
		}, ErrInvalidHint, "invalid certificate public key hint"},
		{"empty hint", func(q *SubmitRequest) {
			q.CertificatePubkeyHint = []byte{}
		}, ErrInvalidHint, "invalid certificate public key hint"},
		{"certificate", func(q *SubmitRequest) {
			q.Certificate = badCert
			q.Deadline = past
		}, ErrInvalidCertificate, "invalid certificate: signature mismatch"},
		{"certificate hides bad PoW", func(q *SubmitRequest) {
			cert := mustEncodeCert(t, q.NodeID, nil)
			q.Certificate = &Certificate{Data: cert, Signature: ed25519.Sign(certPriv, cert)}
			q.PowParams = nil
			q.Challenge = challenge(2) // conflicting
			n.sign(q)
		}, ErrConflictingRegistration, "conflicting registration"},
		{"pow params", func(q *SubmitRequest) {
			q.PowParams = &PowParams{Difficulty: 4, Challenge: make([]byte, 32)}
			q.Deadline = past
		}, ErrInvalidPowParams, "invalid proof of work parameters"},
		{"pow nonce", func(q *SubmitRequest) {
			q.Nonce = badNonce(r.PowParams(), q.NodeID, q.Challenge)
			q.Deadline = past
		}, ErrInvalidPow, "invalid proof of work"},
		{"deadline", func(q *SubmitRequest) {
			q.Deadline = testSchedule().RoundEnd(0).Add(-time.Nanosecond)
			q.Challenge = challenge(2)
			n.sign(q)
			q.Nonce = solvePow(r.PowParams(), q.NodeID, q.Challenge)
		}, ErrTooLate, "too late to register for the desired round"},
		{"conflict before the limit", func(q *SubmitRequest) {
			q.Challenge = challenge(2)
			n.sign(q)
			q.Nonce = solvePow(r.PowParams(), q.NodeID, q.Challenge)
		}, ErrConflictingRegistration, "conflicting registration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := n.request(r, challenge(1))
			req.Signature = bytes.Clone(req.Signature)
			tt.edit(&req)
			_, err := r.Submit(context.Background(), req)
			if !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), tt.msg) {
				t.Fatalf("error %q, want %v (%q)", err, tt.want, tt.msg)
			}
		})
	}
	t.Run("member limit", func(t *testing.T) {
		_, err := r.Submit(context.Background(), newNode(2).request(r, challenge(1)))
		wantErr(t, err, ErrMaxMembers)
	})
	t.Run("idempotent when full", func(t *testing.T) {
		if round := mustSubmit(t, r, n.request(r, challenge(1))); round != 0 {
			t.Fatalf("round %d", round)
		}
	})
}

// badNonce is the smallest nonce that does not solve the proof of work.
func badNonce(p PowParams, nodeID, ch []byte) uint64 {
	nonce := uint64(0)
	for CheckPow(p.Challenge, nodeID, ch, nonce, uint(p.Difficulty)) {
		nonce++
	}
	return nonce
}

func TestSubmitIdempotentAndConflicting(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	n := newNode(1)
	mustSubmit(t, r, n.request(r, challenge(1)))
	for range 3 {
		if round := mustSubmit(t, r, n.request(r, challenge(1))); round != 0 {
			t.Fatalf("resubmission went to round %d", round)
		}
	}
	_, err := r.Submit(context.Background(), n.request(r, challenge(2)))
	wantErr(t, err, ErrConflictingRegistration)
	if got := r.RoundMembers(0); got != 1 {
		t.Fatalf("%d members after resubmissions", got)
	}
	// The next round takes the same node again, with any challenge.
	env.clock.Set(genesis.Add(10 * time.Minute))
	if round := mustSubmit(t, r, n.request(r, challenge(2))); round != 1 {
		t.Fatalf("round %d", round)
	}
}

// Duplicates are found among registrations still waiting for their commit too.
func TestSubmitDuplicatesWhileQueued(t *testing.T) {
	cfg := defaultConfig()
	cfg.MaxRoundMembers = 1
	env := newEnv(t, cfg)
	r := env.open(t)
	n := newNode(1)
	first := n.request(r, challenge(1))
	round, b, err := r.enqueue(&first)
	if err != nil || b == nil || round != 0 {
		t.Fatalf("enqueue: %d %v %v", round, b, err)
	}
	same := n.request(r, challenge(1))
	if _, b2, err := r.enqueue(&same); err != nil || b2 != b {
		t.Fatalf("queued duplicate: batch %p (want %p), %v", b2, b, err)
	}
	other := n.request(r, challenge(2))
	_, _, err = r.enqueue(&other)
	wantErr(t, err, ErrConflictingRegistration)
	full := newNode(2).request(r, challenge(1))
	_, _, err = r.enqueue(&full)
	wantErr(t, err, ErrMaxMembers)
	// The duplicate's Submit waits for the same commit.
	if round := mustSubmit(t, r, n.request(r, challenge(1))); round != 0 || !b.isDone() || b.err != nil {
		t.Fatalf("round %d, batch done %v, err %v", round, b.isDone(), b.err)
	}
	if got := r.RoundMembers(0); got != 1 {
		t.Fatalf("%d members", got)
	}
}

func TestSubmitDeadline(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	end := testSchedule().RoundEnd(0)
	for i, tt := range []struct {
		deadline time.Time
		want     error
	}{
		{time.Time{}, nil},
		{end, nil},
		{end.Add(time.Hour), nil},
		{end.Add(-time.Nanosecond), ErrTooLate},
	} {
		req := newNode(uint64(i)).request(r, challenge(1))
		req.Deadline = tt.deadline
		_, err := r.Submit(context.Background(), req)
		if !errors.Is(err, tt.want) {
			t.Errorf("deadline %v: %v, want %v", tt.deadline, err, tt.want)
		}
	}
}

func TestSubmitMemberLimit(t *testing.T) {
	cfg := defaultConfig()
	cfg.MaxRoundMembers = 3
	env := newEnv(t, cfg)
	r := env.open(t)
	for i := range uint64(3) {
		mustSubmit(t, r, newNode(i).request(r, challenge(i)))
	}
	_, err := r.Submit(context.Background(), newNode(9).request(r, challenge(9)))
	wantErr(t, err, ErrMaxMembers)
	env.clock.Set(genesis.Add(10 * time.Minute))
	mustSubmit(t, r, newNode(9).request(r, challenge(9))) // a new round has room
}

func TestSubmitPreviousPowParamsAfterRotation(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	first := r.PowParams()
	if len(first.Challenge) != 32 || first.Difficulty != 4 {
		t.Fatalf("initial params %+v", first)
	}
	oldReq := newNode(1).request(r, challenge(1)) // solved for the first challenge

	p1 := provenRound(t, 0, nil, 150)
	root1 := p1.Proof.Root
	if err := r.SaveProof(p1); err != nil {
		t.Fatal(err)
	}
	if got := r.PowParams(); !bytes.Equal(got.Challenge, root1) {
		t.Fatalf("current challenge %x, want the proof root", got.Challenge)
	}
	mustSubmit(t, r, oldReq) // previous params still accepted
	mustSubmit(t, r, newNode(2).request(r, challenge(2)))

	p2 := provenRound(t, 1, nil, 151)
	if err := r.SaveProof(p2); err != nil {
		t.Fatal(err)
	}
	stale := newNode(3).request(r, challenge(3))
	stale.PowParams = &first
	stale.Nonce = solvePow(first, stale.NodeID, stale.Challenge)
	_, err := r.Submit(context.Background(), stale)
	wantErr(t, err, ErrInvalidPowParams)
	prev := PowParams{Difficulty: 4, Challenge: root1}
	ok := newNode(4).request(r, challenge(4))
	ok.PowParams = &prev
	ok.Nonce = solvePow(prev, ok.NodeID, ok.Challenge)
	mustSubmit(t, r, ok)
}

func TestSubmitCancelledContext(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Submit(ctx, newNode(1).request(r, challenge(1)))
	wantErr(t, err, context.Canceled)
	if r.RoundMembers(0) != 0 {
		t.Fatal("a request cancelled before queueing was registered")
	}
}

// With Run, Submit waits for the committer; a cancelled wait returns the context's
// error and the registration still commits.
func TestSubmitWithRunCancelWhileWaiting(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	run(t, r)
	// Hold the commit lock so the committer cannot finish the batch.
	r.commitMu.Lock()
	ctx, cancel := context.WithCancel(context.Background())
	req := newNode(1).request(r, challenge(1))
	errc := submitQueued(ctx, r, req)
	cancel()
	wantErr(t, <-errc, context.Canceled)
	r.commitMu.Unlock()
	if round := mustSubmit(t, r, req); round != 0 || r.RoundMembers(0) != 1 {
		t.Fatalf("resubmission: round %d, %d members", round, r.RoundMembers(0))
	}
}

func TestSubmitConcurrentWithRun(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	run(t, r)
	const clients, each = 16, 20
	reqs := make([][]SubmitRequest, clients)
	for c := range reqs {
		for i := range each {
			id := uint64(c*each + i)
			reqs[c] = append(reqs[c], newNode(id).request(r, challenge(id)))
		}
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for _, req := range reqs[c] {
				mustSubmit(t, r, req)
				mustSubmit(t, r, req) // idempotent
			}
		})
	}
	wg.Wait()
	if got := r.RoundMembers(0); got != clients*each {
		t.Fatalf("%d members, want %d", got, clients*each)
	}
	if got := histogramCount(t, env, "poet_round_batch_write_latency_seconds"); got == 0 || got > clients*each {
		t.Fatalf("%d batches for %d registrations", got, clients*each)
	}
}

func TestSubmitCommitFailureLosesNothingAcknowledged(t *testing.T) {
	env := newEnv(t, defaultConfig())
	var fail sync.Mutex
	failing := false
	env.opts = append(env.opts, withCommitHook(func() error {
		fail.Lock()
		defer fail.Unlock()
		if failing {
			return errors.New("disk on fire")
		}
		return nil
	}))
	r := env.open(t)
	mustSubmit(t, r, newNode(1).request(r, challenge(1)))
	fail.Lock()
	failing = true
	fail.Unlock()
	_, err := r.Submit(context.Background(), newNode(2).request(r, challenge(2)))
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Submit during a failing commit: %v", err)
	}
	for _, sentinel := range []error{ErrInvalidPublicKey, ErrInvalidSignature, ErrMaxMembers, ErrConflictingRegistration, ErrTooLate} {
		if errors.Is(err, sentinel) {
			t.Fatalf("a write failure reads as %v", sentinel)
		}
	}
	if _, _, err := r.CloseRound(0); err == nil {
		t.Fatal("CloseRound succeeded while commits fail")
	}
	// Round 0 stays closed in memory even though that is not durable yet.
	env.clock.Set(genesis.Add(time.Minute))
	fail.Lock()
	failing = false
	fail.Unlock()
	if round := mustSubmit(t, r, newNode(2).request(r, challenge(2))); round != 1 {
		t.Fatalf("registration after a failed close went to round %d", round)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := env.open(t)
	if got := r2.RoundMembers(0); got != 1 {
		t.Fatalf("round 0 has %d members after reopening", got)
	}
	if got := r2.RoundMembers(1); got != 1 {
		t.Fatalf("round 1 has %d members after reopening", got)
	}
	if got := r2.OpenRound(); got != 1 {
		t.Fatalf("open round %d after reopening, want 1 (round 0 closed)", got)
	}
}

func TestSubmitAfterClose(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	req := newNode(1).request(r, challenge(1))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Submit(context.Background(), req)
	wantErr(t, err, ErrClosed)
	_, _, err = r.CloseRound(0)
	wantErr(t, err, ErrClosed)
	wantErr(t, r.SaveProof(StoredProof{}), ErrClosed)
}
