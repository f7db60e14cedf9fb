package registration

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// genesis of the test schedule; round 0 is open until genesis + 10 min.
var genesis = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func testSchedule() schedule.Schedule {
	return schedule.Schedule{Genesis: genesis, EpochDuration: time.Hour, PhaseShift: 10 * time.Minute, CycleGap: 5 * time.Minute}
}

// testPrefix is what go-spacemesh signs before the challenge: a 20-byte genesis ID and
// the POET signing domain 0x04.
var testPrefix = append(make([]byte, 20), 0x04)

// testNode is a node identity.
type testNode struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

// newNode is a deterministic identity numbered i.
func newNode(i uint64) testNode {
	seed := make([]byte, ed25519.SeedSize)
	binary.BigEndian.PutUint64(seed, i+1)
	priv := ed25519.NewKeyFromSeed(seed)
	return testNode{pub: priv.Public().(ed25519.PublicKey), priv: priv}
}

// challenge is a 32-byte challenge numbered i.
func challenge(i uint64) []byte {
	c := make([]byte, 32)
	binary.BigEndian.PutUint64(c[24:], i)
	c[0] = 0xc0
	return c
}

// request is a signed PoW-path request with a solved nonce for the registry's current
// parameters.
func (n testNode) request(r *Registry, ch []byte) SubmitRequest {
	req := SubmitRequest{
		Prefix:    testPrefix,
		Challenge: ch,
		NodeID:    n.pub,
		Signature: ed25519.Sign(n.priv, append(append([]byte{}, testPrefix...), ch...)),
	}
	params := r.PowParams()
	req.PowParams = &params
	req.Nonce = solvePow(params, n.pub, ch)
	return req
}

// sign re-signs req after its prefix or challenge changed.
func (n testNode) sign(req *SubmitRequest) {
	req.Signature = ed25519.Sign(n.priv, append(append([]byte{}, req.Prefix...), req.Challenge...))
}

// solvePow is FindNonce for a parameter set.
func solvePow(p PowParams, nodeID, ch []byte) uint64 {
	nonce, err := FindNonce(p.Challenge, nodeID, ch, uint(p.Difficulty))
	if err != nil {
		panic(err) // the tests' own parameters
	}
	return nonce
}

// submitQueued submits req in the background and returns once the batch waiting for
// the committer (held off by the caller with r.commitMu, and empty before) holds it;
// Submit's error follows on the channel.
func submitQueued(ctx context.Context, r *Registry, req SubmitRequest) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := r.Submit(ctx, req)
		errc <- err
	}()
	for {
		r.mu.Lock()
		queued := len(r.next.regs)
		r.mu.Unlock()
		if queued == 1 {
			return errc
		}
		time.Sleep(time.Millisecond)
	}
}

type testEnv struct {
	path  string
	clock *testutil.Clock
	prom  *prometheus.Registry
	cfg   Config
	opts  []Option
}

func newEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	return &testEnv{
		path:  filepath.Join(t.TempDir(), "registration.db"),
		clock: testutil.NewClock(genesis),
		prom:  prometheus.NewRegistry(),
		cfg:   cfg,
	}
}

func defaultConfig() Config {
	return Config{PowDifficulty: 4, MaxRoundMembers: 1 << 32}
}

// open opens the registry at the environment's path and closes it when the test ends.
func (e *testEnv) open(t testing.TB) *Registry {
	t.Helper()
	opts := append([]Option{WithClock(e.clock.Now)}, e.opts...)
	if e.prom != nil {
		opts = append(opts, WithRegisterer(e.prom))
	}
	r, err := Open(e.path, testSchedule(), e.cfg, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// run runs r.Run until the test ends (or stop is called).
func run(t testing.TB, r *Registry) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for !r.running.Load() {
		time.Sleep(time.Millisecond)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func mustSubmit(t testing.TB, r *Registry, req SubmitRequest) uint64 {
	t.Helper()
	round, err := r.Submit(context.Background(), req)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return round
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

// histogramCount is the number of observations of a histogram in env's registry.
func histogramCount(t testing.TB, env *testEnv, name string) uint64 {
	t.Helper()
	mfs, err := env.prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
