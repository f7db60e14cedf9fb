// Package round runs the PoET round cycle: at each round start it closes registration,
// executes the round's proof of sequential work until the round end, and publishes the
// proof; after a restart it publishes finished proofs and resumes the interrupted round.
package round

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/prover"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/schedule"
)

// Registry is what the engine needs of registration.
type Registry interface {
	// CloseRound ends registration for a round and returns its membership root.
	CloseRound(round uint64) (statement []byte, members int, err error)
	// RoundKnown reports whether the registry ever opened the round.
	RoundKnown(round uint64) bool
	// Members lists a closed round's members in the order they were hashed.
	Members(round uint64) ([][]byte, error)
	// SaveProof stores a finished round durably.
	SaveProof(p registration.StoredProof) error
	// HasProof reports whether a round's proof is stored, without reading it (a
	// million-member proof is tens of megabytes).
	HasProof(round uint64) (bool, error)
	// LatestProof is the highest round with a stored proof, without reading it.
	LatestProof() (round uint64, ok bool, err error)
}

// Config configures the engine.
type Config struct {
	Schedule schedule.Schedule
	// DataDir holds rounds/<n>/ and round.tid.
	DataDir string
	// LPS is the estimated leaves per second that sizes a round's in-memory layers;
	// unless LPSGiven, the rate measured in the last round replaces it.
	LPS uint64
	// LPSGiven says LPS was set by the operator and wins over any measurement.
	LPSGiven           bool
	MemoryLayers       uint
	TreeFileBuffer     int
	CheckpointInterval time.Duration
	// DisableWorker publishes an empty proof for every closed round at once
	// (registration-only mode, as the reference's --disable-worker).
	DisableWorker bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ProverThread, when set, runs first on each round's prover thread (see
	// prover.Config.OnThread): the CPU placement and scheduling policy.
	ProverThread func() error
	// RunProver, when set, runs a round's prover instead of prover.Run, e.g. in a
	// process of its own (prover.RunProcess).
	RunProver func(ctx context.Context, cfg prover.Config) (*prover.Result, error)
	// ProverThreadDone, when set, runs after each round's prover thread has exited:
	// undoing the placement until the next round.
	ProverThreadDone func() error
	// Calibration, when positive and neither LPS is given nor a rate measured yet, runs
	// the prover on a throwaway tree for this long before the first round, where it
	// fits before the round starts, and keeps the rate (see LPSCalibrated).
	Calibration time.Duration
}

// Engine is the round cycle. Its exported methods are safe for concurrent use.
type Engine struct {
	cfg Config
	reg Registry
	log *slog.Logger

	mu         sync.Mutex
	recovering bool // from New until the rounds of an earlier run are published or resumed
	executing  *execution
	lastProof  *proofInfo
	lps        uint64 // the leaves/s sizing the next or executing round
	lpsSource  string
	lpsAt      time.Time // when the rate in use was measured; zero for given and default
}

type execution struct {
	round    uint64
	members  int
	progress *prover.Progress
	started  time.Time
	rate     *rateMeter
}

type proofInfo struct {
	round uint64
	at    time.Time
}

// New returns an engine; it does no I/O.
func New(cfg Config, reg Registry, log *slog.Logger) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: cfg, reg: reg, log: log, recovering: true}
}

// ErrRecovering is Ready's answer while the engine is taking over the rounds of an
// earlier run: publishing finished proofs, rebuilding the proof of a round that ended
// meanwhile, or reopening the tree of the round that was executing.
var ErrRecovering = errors.New("recovering the rounds of an earlier run")

// Ready is nil once the engine runs its schedule: before Run, and while Run publishes
// or rebuilds earlier proofs, it is ErrRecovering; a round resumed after a restart
// counts as running once its tree is open again (its leaves show in the progress).
func (e *Engine) Ready() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.recovering {
		return nil
	}
	if x := e.executing; x != nil && x.progress.Leaves() > 0 && e.cfg.Now().Before(e.cfg.Schedule.RoundEnd(x.round)) {
		return nil
	}
	return ErrRecovering
}

// Snapshot is the engine's state for status and metrics.
type Snapshot struct {
	OpenRound        uint64
	Executing        bool
	ExecutingRound   uint64
	ExecutingMembers int
	Leaves           uint64
	LeavesPerSecond  float64
	ResumedFrom      uint64
	CheckpointLeaves uint64
	CheckpointAt     time.Time
	Started          time.Time
	LastProof        bool
	LastProofRound   uint64
	LastProofAt      time.Time
	// LPS is the leaves/s that sizes the executing (or next) round's in-memory layers,
	// and LPSSource where it comes from: LPSGiven, LPSMeasured or LPSDefault.
	LPS       uint64
	LPSSource string
	// LPSMeasuredAt is when a measured or calibrated LPS was measured.
	LPSMeasuredAt time.Time
}

// Snapshot reports the current state.
func (e *Engine) Snapshot() Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Snapshot{OpenRound: e.cfg.Schedule.OpenRound(e.cfg.Now())}
	if x := e.executing; x != nil {
		s.Executing, s.ExecutingRound, s.ExecutingMembers, s.Started = true, x.round, x.members, x.started
		s.Leaves, s.ResumedFrom = x.progress.Leaves(), x.progress.ResumedFrom()
		s.LeavesPerSecond = x.rate.rate()
		s.CheckpointLeaves, s.CheckpointAt = x.progress.Checkpoint()
	}
	if p := e.lastProof; p != nil {
		s.LastProof, s.LastProofRound, s.LastProofAt = true, p.round, p.at
	}
	s.LPS, s.LPSSource, s.LPSMeasuredAt = e.lps, e.lpsSource, e.lpsAt
	return s
}

func (e *Engine) roundDir(n uint64) string {
	return filepath.Join(e.cfg.DataDir, "rounds", strconv.FormatUint(n, 10))
}

// Run recovers, then executes rounds until ctx ends. Cancelling ctx checkpoints the
// executing round; Run then returns nil.
func (e *Engine) Run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(e.cfg.DataDir, "rounds"), 0o700); err != nil {
		return fmt.Errorf("creating rounds directory: %w", err)
	}
	e.chooseLPS()
	// The latest proof from an earlier run, so status names it before this run publishes
	// one (when it was published is not known: LastProofAt stays zero).
	if n, ok, err := e.reg.LatestProof(); err != nil {
		return err
	} else if ok {
		e.mu.Lock()
		if e.lastProof == nil {
			e.lastProof = &proofInfo{round: n}
		}
		e.mu.Unlock()
	}
	next, err := e.recover(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.recovering = false
	e.mu.Unlock()
	for {
		n := max(next, e.cfg.Schedule.OpenRound(e.cfg.Now()))
		if err := e.calibrate(ctx, e.cfg.Schedule.RoundStart(n)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.log.Warn("calibration failed; the next round is sized by the default leaves/s", "error", err)
		}
		if err := e.sleepUntil(ctx, e.cfg.Schedule.RoundStart(n)); err != nil {
			return nil
		}
		stmt, members, err := e.reg.CloseRound(n)
		if err != nil {
			return fmt.Errorf("closing round %d: %w", n, err)
		}
		next = n + 1
		if !e.cfg.Now().Before(e.cfg.Schedule.RoundEnd(n)) {
			e.log.Warn("skipping past round", "round", n)
			continue
		}
		if err := e.execute(ctx, n, stmt, members); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// recover publishes proofs finished before a restart and resumes the round that was
// executing. It returns the first round not handled yet.
func (e *Engine) recover(ctx context.Context) (uint64, error) {
	ents, err := os.ReadDir(filepath.Join(e.cfg.DataDir, "rounds"))
	if err != nil {
		return 0, fmt.Errorf("listing rounds: %w", err)
	}
	var pending []uint64
	for _, ent := range ents {
		n, err := strconv.ParseUint(ent.Name(), 10, 64)
		if err != nil || !ent.IsDir() {
			continue
		}
		st, err := prover.ReadState(e.roundDir(n))
		switch {
		case errors.Is(err, os.ErrNotExist) || (err == nil && st.Execution == nil):
			e.log.Info("removing round directory that never executed", "round", n)
			if err := os.RemoveAll(e.roundDir(n)); err != nil {
				return 0, fmt.Errorf("removing round %d: %w", n, err)
			}
		case err != nil:
			return 0, fmt.Errorf("recovering round %d: %w", n, err)
		case st.Execution.NIP != nil:
			err := e.publish(n, st.Execution.NIP, st.Execution.NumLeaves)
			if errors.Is(err, registration.ErrInvalidProof) {
				// Damaged after the prover wrote it: rebuild it from the round's tree.
				e.log.Error("the finished proof in the round's state.bin does not verify; rebuilding it from the round's tree",
					"round", n, "leaves", st.Execution.NumLeaves, "error", err)
				st.Execution.NIP = nil
				if err := prover.WriteState(e.roundDir(n), st); err != nil {
					return 0, fmt.Errorf("dropping the invalid proof of round %d: %w", n, err)
				}
				pending = append(pending, n)
			} else if err != nil {
				return 0, err
			}
		default:
			pending = append(pending, n)
		}
	}
	next := e.cfg.Schedule.OpenRound(e.cfg.Now())
	handled := func(n uint64) bool { return len(pending) > 0 && n <= pending[len(pending)-1] }
	slices.Sort(pending)
	for i, n := range pending {
		if i < len(pending)-1 {
			e.log.Warn("several interrupted rounds; resuming only the last", "round", n)
			continue
		}
		if stopped, err := e.closeAndExecute(ctx, n); err != nil || stopped {
			return 0, err
		}
		next = max(next, n+1)
	}
	// A round in progress that has registrations but no tree (the round directory was
	// lost, or the process died right at the round start) runs for what is left of it.
	// One the registry never opened is not started, as in the reference.
	if n, ok := e.cfg.Schedule.ExecutingRound(e.cfg.Now()); ok && !handled(n) {
		if !e.reg.RoundKnown(n) {
			e.log.Warn("not starting a round in progress that has no registrations", "round", n)
			return n + 1, nil
		}
		if has, err := e.reg.HasProof(n); err == nil && has {
			return n + 1, nil
		}
		if stopped, err := e.closeAndExecute(ctx, n); err != nil || stopped {
			return 0, err
		}
		next = n + 1
	}
	return next, nil
}

// closeAndExecute closes round n and executes it; stopped reports that ctx ended.
func (e *Engine) closeAndExecute(ctx context.Context, n uint64) (stopped bool, err error) {
	stmt, members, err := e.reg.CloseRound(n)
	if err != nil {
		return false, fmt.Errorf("closing round %d: %w", n, err)
	}
	if err := e.execute(ctx, n, stmt, members); err != nil {
		if ctx.Err() != nil {
			return true, nil
		}
		return false, err
	}
	return false, nil
}

// execute runs round n's prover until the round end and publishes its proof.
func (e *Engine) execute(ctx context.Context, n uint64, stmt []byte, members int) error {
	if e.cfg.DisableWorker {
		return e.publish(n, &posw.Proof{}, 0)
	}
	lps, source := e.chooseLPS()
	progress := &prover.Progress{}
	x := &execution{round: n, members: members, progress: progress, started: e.cfg.Now(), rate: newRateMeter(progress.Leaves)}
	stopRate := x.rate.start()
	e.mu.Lock()
	e.executing = x
	e.mu.Unlock()
	defer func() {
		stopRate()
		e.mu.Lock()
		e.executing = nil
		e.mu.Unlock()
	}()
	s := e.cfg.Schedule
	cfg := prover.Config{
		Dir:                e.roundDir(n),
		Statement:          stmt,
		End:                s.RoundEnd(n),
		DiskLayers:         prover.DiskLayers(s.RoundDuration(), lps, e.cfg.MemoryLayers),
		TreeFileBuffer:     e.cfg.TreeFileBuffer,
		CheckpointInterval: e.cfg.CheckpointInterval,
		TIDFile:            filepath.Join(e.cfg.DataDir, "round.tid"),
		Progress:           progress,
		Logger:             e.log.With("round", n),
	}
	e.log.Info("executing round", "round", n, "members", members, "end", cfg.End, "lps", lps, "lpsSource", source, "diskLayers", cfg.DiskLayers)
	res, err := e.runProver(ctx, cfg)
	if err != nil {
		return fmt.Errorf("executing round %d: %w", n, err)
	}
	// The leaves this process added, over the time until the round's end (not the proof).
	end := e.cfg.Now()
	if cfg.End.Before(end) {
		end = cfg.End
	}
	e.measure(n, progress.Leaves()-progress.ResumedFrom(), end.Sub(x.started))
	e.log.Info("round finished", "round", n, "leaves", res.Leaves)
	return e.publish(n, res.Proof, res.Leaves)
}

// runProver runs the prover (in its own process or on a thread of this one) and undoes
// its CPU placement afterwards.
func (e *Engine) runProver(ctx context.Context, cfg prover.Config) (*prover.Result, error) {
	cfg.OnThread = e.cfg.ProverThread
	run := prover.Run
	if e.cfg.RunProver != nil {
		run = e.cfg.RunProver
	}
	res, err := run(ctx, cfg)
	if e.cfg.ProverThreadDone != nil {
		if derr := e.cfg.ProverThreadDone(); derr != nil {
			e.log.Warn("undoing the prover's CPU placement", "error", derr)
		}
	}
	return res, err
}

// publish stores a finished proof with the round's members, then removes the round's
// directory; a proof already stored is kept.
func (e *Engine) publish(n uint64, p *posw.Proof, leaves uint64) error {
	has, err := e.reg.HasProof(n)
	if err != nil {
		return fmt.Errorf("looking up proof of round %d: %w", n, err)
	}
	if !has {
		members, err := e.reg.Members(n)
		if err != nil {
			return fmt.Errorf("listing members of round %d: %w", n, err)
		}
		sp := registration.StoredProof{Round: n, Proof: *p, Members: members, Leaves: leaves}
		if err := e.reg.SaveProof(sp); err != nil {
			return fmt.Errorf("saving proof of round %d: %w", n, err)
		}
	}
	e.mu.Lock()
	e.lastProof = &proofInfo{round: n, at: e.cfg.Now()}
	e.mu.Unlock()
	if err := os.RemoveAll(e.roundDir(n)); err != nil {
		e.log.Warn("removing finished round directory", "round", n, "error", err)
	}
	return nil
}

func (e *Engine) sleepUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(e.cfg.Now())
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
