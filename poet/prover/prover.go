// Package prover executes a PoET round on disk: it appends labels to the PoSW tree until
// the round ends, keeps the low layers in files and the rest in memory, checkpoints by
// time so a killed process resumes with seconds of work lost, and opens the tree into a
// proof. Its directory layout and state file match the reference's, so either
// implementation can resume the other's round.
package prover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// Defaults of the reference's configuration.
const (
	DefaultLPS                = 78000
	DefaultMemoryLayers       = 26
	DefaultTreeFileBuffer     = 4096
	DefaultCheckpointInterval = 5 * time.Second
)

// Config describes one round's execution.
type Config struct {
	// Dir is the round directory: layer files and state.bin.
	Dir string
	// Statement keys every hash of the round (the membership root).
	Statement []byte
	// End is when the round stops; it runs on until it has posw.T leaves.
	End time.Time
	// Leaves, when set, stops the round at exactly this many leaves instead of at End.
	Leaves uint64
	// DiskLayers is the number of low layers kept in files (see DiskLayers).
	DiskLayers uint
	// TreeFileBuffer is the size in bytes of each layer file's write buffer.
	TreeFileBuffer int
	// CheckpointInterval is the most work a crash can lose.
	CheckpointInterval time.Duration
	// TIDFile, when set, receives the prover thread's Linux thread id.
	TIDFile string
	// OnThread, when set, runs first on the prover thread (locked to its goroutine), for
	// example to pin it to a CPU. The thread is discarded when the round returns, so what
	// OnThread changes never reaches another goroutine.
	OnThread func() error
	// Progress, when set, is updated as the round runs.
	Progress *Progress
	// Logger receives checkpoint and recovery events; nil discards them.
	Logger *slog.Logger
}

// DiskLayers applies the reference's rule for how many low layers live in files: a
// tree of about roundDuration·lps leaves has ceil(log2) layers, the top memoryLayers of
// them stay in memory, and layer 0 is always on disk.
func DiskLayers(roundDuration time.Duration, lps uint64, memoryLayers uint) uint {
	estimated := uint64(roundDuration/time.Second) * lps
	total := uint(0)
	if estimated > 1 {
		total = uint(bits.Len64(estimated - 1))
	}
	if total <= memoryLayers {
		return 1
	}
	return max(total-memoryLayers, 1)
}

// Progress is what the prover publishes for metrics and status; reading it costs the
// prover nothing.
type Progress struct {
	leaves           atomic.Uint64
	checkpointLeaves atomic.Uint64
	checkpointUnix   atomic.Int64
	resumedFrom      atomic.Uint64
}

// Leaves is the number of leaves in the tree.
func (p *Progress) Leaves() uint64 { return p.leaves.Load() }

// Checkpoint is the leaf count and time of the last durable checkpoint.
func (p *Progress) Checkpoint() (uint64, time.Time) {
	u := p.checkpointUnix.Load()
	if u == 0 {
		return p.checkpointLeaves.Load(), time.Time{}
	}
	return p.checkpointLeaves.Load(), time.Unix(0, u)
}

// ResumedFrom is the leaf count the round resumed from (0 for a fresh start).
func (p *Progress) ResumedFrom() uint64 { return p.resumedFrom.Load() }

// Result is a finished round.
type Result struct {
	Proof  *posw.Proof
	Leaves uint64
}

// ErrStatementMismatch reports a round directory that belongs to another statement.
var ErrStatementMismatch = errors.New("round directory holds another statement")

// Run executes the round in cfg.Dir, resuming it if the directory holds a checkpoint,
// until cfg.End (or cfg.Leaves), and returns its proof, which it also saves in the state
// file. Cancelling ctx stops at the next leaf with a checkpoint; the error then wraps
// ctx.Err(). The work runs on a goroutine locked to one OS thread, the prover thread,
// which exits with it.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	type result struct {
		res *Result
		err error
	}
	out := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the round
		res, err := runLocked(ctx, cfg)
		out <- result{res, err}
	}()
	r := <-out
	return r.res, r.err
}

func runLocked(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.OnThread != nil {
		if err := cfg.OnThread(); err != nil {
			return nil, fmt.Errorf("placing the prover thread: %w", err)
		}
	}
	if cfg.Progress == nil {
		cfg.Progress = &Progress{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.TreeFileBuffer <= 0 {
		cfg.TreeFileBuffer = DefaultTreeFileBuffer
	}
	if cfg.DiskLayers == 0 {
		cfg.DiskLayers = 1
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating round directory: %w", err)
	}
	if cfg.TIDFile != "" {
		if err := os.WriteFile(cfg.TIDFile, []byte(strconv.Itoa(threadID())), 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", cfg.TIDFile, err)
		}
	}
	r, err := open(cfg)
	if err != nil {
		return nil, err
	}
	if r.done != nil {
		return r.done, nil
	}
	defer r.layers.close()
	return r.run(ctx)
}

type round struct {
	cfg     Config
	state   State
	hasher  *posw.Hasher
	layers  *layers
	builder *posw.Builder
	done    *Result
}

// open starts a fresh round or resumes the one in cfg.Dir.
func open(cfg Config) (*round, error) {
	r := &round{cfg: cfg, hasher: posw.NewHasher(cfg.Statement)}
	st, err := ReadState(cfg.Dir)
	switch {
	case errors.Is(err, os.ErrNotExist) || (err == nil && st.Execution == nil):
		return r, r.start()
	case err != nil:
		return nil, err
	}
	x := st.Execution
	if string(x.Statement) != string(cfg.Statement) {
		return nil, fmt.Errorf("%w: %x, not %x", ErrStatementMismatch, x.Statement, cfg.Statement)
	}
	if int(x.SecurityParam) != posw.T {
		return nil, fmt.Errorf("%w: security parameter %d, want %d", ErrCorruptState, x.SecurityParam, posw.T)
	}
	r.state = *st
	if x.NIP != nil {
		r.done = &Result{Proof: x.NIP, Leaves: x.NumLeaves}
		return r, nil
	}
	if x.NumLeaves == 0 {
		if err := removeLayerFiles(cfg.Dir); err != nil {
			return nil, err
		}
		return r, r.start()
	}
	return r, r.recover()
}

// start begins an empty tree and records that execution started.
func (r *round) start() error {
	if err := removeLayerFiles(r.cfg.Dir); err != nil {
		return err
	}
	r.state = State{
		ExecutionStarted: time.Now().UTC(),
		Execution:        &Execution{SecurityParam: posw.T, Statement: r.cfg.Statement},
	}
	if err := WriteState(r.cfg.Dir, &r.state); err != nil {
		return fmt.Errorf("saving round start: %w", err)
	}
	r.layers = openLayers(r.cfg.Dir, r.cfg.DiskLayers, r.cfg.TreeFileBuffer)
	r.builder = posw.NewBuilder(r.hasher, r.layers)
	return nil
}

func (r *round) commit(leaves uint64) func() error {
	st := r.state
	x := *st.Execution
	x.NumLeaves = leaves
	st.Execution = &x
	p := r.cfg.Progress
	return func() error {
		if err := WriteState(r.cfg.Dir, &st); err != nil {
			return fmt.Errorf("checkpointing at leaf %d: %w", leaves, err)
		}
		p.checkpointLeaves.Store(leaves)
		p.checkpointUnix.Store(time.Now().UnixNano())
		return nil
	}
}

// run is the prover loop; everything in it but AddLeaf is two atomic loads per leaf.
func (r *round) run(ctx context.Context) (*Result, error) {
	var stop, tick atomic.Bool
	if r.cfg.Leaves == 0 {
		t := time.AfterFunc(time.Until(r.cfg.End), func() { stop.Store(true) })
		defer t.Stop()
	}
	var cancelled atomic.Bool
	defer context.AfterFunc(ctx, func() { cancelled.Store(true); stop.Store(true) })()
	ticker := time.NewTicker(r.cfg.CheckpointInterval)
	defer ticker.Stop()
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			select {
			case <-ticker.C:
				tick.Store(true)
			case <-quit:
				return
			}
		}
	}()

	b, p, target := r.builder, r.cfg.Progress, r.cfg.Leaves
	for {
		if b.Leaves() >= posw.T && (stop.Load() || (target != 0 && b.Leaves() >= target)) {
			break
		}
		if cancelled.Load() {
			break
		}
		b.AddLeaf()
		p.leaves.Store(b.Leaves())
		if tick.Load() {
			tick.Store(false)
			if err := r.layers.failure(); err != nil {
				return nil, err
			}
			r.layers.checkpoint(r.commit(b.Leaves()))
		}
	}
	n := b.Leaves()
	if err := <-r.layers.checkpoint(r.commit(n)); err != nil {
		return nil, err
	}
	if cancelled.Load() {
		r.cfg.Logger.Info("round interrupted", "leaves", n)
		return nil, fmt.Errorf("round interrupted at %d leaves (checkpointed): %w", n, context.Cause(ctx))
	}
	proof, err := posw.GenerateProof(r.hasher, r.layers, n)
	if err != nil {
		return nil, fmt.Errorf("generating proof: %w", err)
	}
	if err := posw.Verify(r.cfg.Statement, proof, n); err != nil {
		return nil, fmt.Errorf("the tree on disk yields an invalid proof (corrupt layer files?): %w", err)
	}
	st := r.state
	x := *st.Execution
	x.NumLeaves, x.NIP = n, proof
	st.Execution = &x
	if err := WriteState(r.cfg.Dir, &st); err != nil {
		return nil, fmt.Errorf("saving proof: %w", err)
	}
	return &Result{Proof: proof, Leaves: n}, nil
}
