package round

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/prover"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// memRegistry is an in-memory registry: the engine's tests are about the cycle; the
// real registry has its own tests and the end-to-end test runs both together.
type memRegistry struct {
	mu      sync.Mutex
	members map[uint64][][]byte
	closed  map[uint64]bool
	proofs  map[uint64]*registration.StoredProof
	saved   chan uint64
}

func newMemRegistry() *memRegistry {
	return &memRegistry{members: map[uint64][][]byte{}, closed: map[uint64]bool{}, proofs: map[uint64]*registration.StoredProof{}, saved: make(chan uint64, 16)}
}

func (r *memRegistry) add(round uint64, challenge byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := make([]byte, 32)
	c[0] = challenge
	r.members[round] = append(r.members[round], c)
}

func (r *memRegistry) CloseRound(round uint64) ([]byte, int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed[round] = true
	return registration.MembershipRoot(r.members[round]), len(r.members[round]), nil
}

func (r *memRegistry) RoundKnown(round uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.members[round]
	return ok || r.closed[round]
}

func (r *memRegistry) Members(round uint64) ([][]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.members[round]), nil
}

func (r *memRegistry) SaveProof(p registration.StoredProof) error {
	r.mu.Lock()
	r.proofs[p.Round] = &p
	r.mu.Unlock()
	r.saved <- p.Round
	return nil
}

func (r *memRegistry) Proof(round uint64) (*registration.StoredProof, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.proofs[round]; ok {
		return p, nil
	}
	return nil, registration.ErrProofNotFound
}

func (r *memRegistry) HasProof(round uint64) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.proofs[round]
	return ok, nil
}

func (r *memRegistry) LatestProof() (uint64, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var latest uint64
	for n := range r.proofs {
		latest = max(latest, n)
	}
	return latest, len(r.proofs) > 0, nil
}

// A restarted engine names the latest stored proof at once (issue 10: /status showed
// lastProofRound null after a restart although proofs existed).
func TestLatestProofKnownAfterRestart(t *testing.T) {
	reg := newMemRegistry()
	for _, n := range []uint64{3, 9, 4} {
		reg.proofs[n] = &registration.StoredProof{Round: n}
	}
	e := New(engineConfig(t.TempDir(), fastSchedule(time.Now().Add(time.Hour))), reg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(time.Minute)
	for !e.Snapshot().LastProof && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s := e.Snapshot()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !s.LastProof || s.LastProofRound != 9 || !s.LastProofAt.IsZero() {
		t.Fatalf("snapshot after restart: lastProof %v round %d at %v, want round 9 at an unknown time", s.LastProof, s.LastProofRound, s.LastProofAt)
	}
}

func fastSchedule(genesis time.Time) schedule.Schedule {
	return schedule.Schedule{Genesis: genesis, EpochDuration: 1500 * time.Millisecond, PhaseShift: 500 * time.Millisecond, CycleGap: 500 * time.Millisecond}
}

func engineConfig(dir string, s schedule.Schedule) Config {
	return Config{Schedule: s, DataDir: dir, LPS: 70000, MemoryLayers: 26, TreeFileBuffer: 4096, CheckpointInterval: 100 * time.Millisecond}
}

func waitProof(t *testing.T, reg *memRegistry, round uint64) *registration.StoredProof {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case n := <-reg.saved:
			if n == round {
				p, _ := reg.Proof(n)
				return p
			}
		case <-timeout:
			t.Fatalf("no proof of round %d", round)
		}
	}
}

func checkProof(t *testing.T, p *registration.StoredProof) {
	t.Helper()
	stmt := registration.MembershipRoot(p.Members)
	if err := posw.Verify(stmt, &p.Proof, p.Leaves); err != nil {
		t.Fatalf("round %d: %v", p.Round, err)
	}
}

func TestRoundsExecuteAndPublish(t *testing.T) {
	dir := t.TempDir()
	s := fastSchedule(time.Now())
	reg := newMemRegistry()
	reg.add(0, 0xaa)
	reg.add(0, 0xcc)
	e := New(engineConfig(dir, s), reg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()

	p0 := waitProof(t, reg, 0)
	if len(p0.Members) != 2 || p0.Leaves < posw.T {
		t.Fatalf("round 0: %d members, %d leaves", len(p0.Members), p0.Leaves)
	}
	checkProof(t, p0)
	if time.Now().Before(s.RoundEnd(0)) {
		t.Fatal("proof published before the round end")
	}
	// A round with no members runs too, on the empty statement.
	p1 := waitProof(t, reg, 1)
	if len(p1.Members) != 0 {
		t.Fatalf("round 1 members: %d", len(p1.Members))
	}
	checkProof(t, p1)
	if snap := e.Snapshot(); !snap.LastProof || snap.LastProofRound < 1 {
		t.Fatalf("snapshot %+v", snap)
	}
	tid, err := os.ReadFile(filepath.Join(dir, "round.tid"))
	if _, perr := strconv.Atoi(string(tid)); err != nil || perr != nil {
		t.Fatalf("round.tid: %q %v", tid, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rounds", "0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("finished round directory kept: %v", err)
	}
}

// Stopping mid-round checkpoints; a new engine resumes the round and publishes it.
// Nothing here depends on the machine's speed: the engine is stopped as soon as the
// prover has made any progress, which any machine does long before the 9 s round ends.
func TestRestartResumesExecutingRound(t *testing.T) {
	dir := t.TempDir()
	s := schedule.Schedule{Genesis: time.Now(), EpochDuration: 10 * time.Second, PhaseShift: 300 * time.Millisecond, CycleGap: time.Second}
	reg := newMemRegistry()
	reg.add(0, 1)
	e := New(engineConfig(dir, s), reg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	for e.Snapshot().Leaves == 0 {
		if !time.Now().Before(s.RoundEnd(0)) {
			t.Fatal("round 0 ended before its prover counted a leaf")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, err := prover.ReadState(filepath.Join(dir, "rounds", "0"))
	if err != nil || st.Execution.NumLeaves == 0 {
		t.Fatalf("checkpoint: %v %+v", err, st)
	}
	e2 := New(engineConfig(dir, s), reg, nil)
	if err := e2.Ready(); !errors.Is(err, ErrRecovering) {
		t.Fatalf("Ready before Run: %v, want ErrRecovering", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { done <- e2.Run(ctx2) }()
	// Ready once the resumed tree is open (leaves counted), or once the round, if it
	// ended meanwhile on a slow machine, is published; never before either.
	for deadline := time.Now().Add(time.Minute); e2.Ready() != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not ready a minute after the restart")
		}
	}
	if _, err := reg.Proof(0); e2.Snapshot().Leaves == 0 && err != nil {
		t.Fatal("ready before the resumed round counted a leaf or was published")
	}
	p := waitProof(t, reg, 0)
	checkProof(t, p)
	if p.Leaves <= st.Execution.NumLeaves {
		t.Fatalf("resumed round has %d leaves, checkpoint had %d", p.Leaves, st.Execution.NumLeaves)
	}
	cancel2()
	<-done
}

// A finished proof left on disk by a crash before it was stored is published at start.
func TestRecoveryPublishesFinishedProof(t *testing.T) {
	dir := t.TempDir()
	s := fastSchedule(time.Now().Add(-time.Hour))
	reg := newMemRegistry()
	reg.add(3, 7)
	stmt, _, _ := reg.CloseRound(3)
	res, err := prover.Run(context.Background(), prover.Config{Dir: filepath.Join(dir, "rounds", "3"), Statement: stmt, Leaves: 200, DiskLayers: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := New(engineConfig(dir, s), reg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	p := waitProof(t, reg, 3)
	if p.Leaves != res.Leaves {
		t.Fatalf("%d leaves, want %d", p.Leaves, res.Leaves)
	}
	checkProof(t, p)
}

// A poet started in the middle of a round it never took registrations for does not
// run that round; one whose registrations it has runs it for the time left.
func TestInProgressRoundNeedsRegistrations(t *testing.T) {
	for _, known := range []bool{false, true} {
		t.Run(strconv.FormatBool(known), func(t *testing.T) {
			dir := t.TempDir()
			s := schedule.Schedule{Genesis: time.Now().Add(-1500 * time.Millisecond), EpochDuration: 4 * time.Second, PhaseShift: time.Second, CycleGap: time.Second}
			reg := newMemRegistry()
			if known {
				reg.add(0, 9)
			}
			e := New(engineConfig(dir, s), reg, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go e.Run(ctx)
			time.Sleep(200 * time.Millisecond)
			snap := e.Snapshot()
			if snap.Executing != known {
				t.Fatalf("executing=%v, want %v", snap.Executing, known)
			}
			if known {
				checkProof(t, waitProof(t, reg, 0))
			}
		})
	}
}
