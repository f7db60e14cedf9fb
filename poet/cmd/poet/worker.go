package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/poet-operator/poet-operator/poet/config"
	"github.com/poet-operator/poet-operator/poet/identity"
	"github.com/poet-operator/poet-operator/poet/placement"
	"github.com/poet-operator/poet-operator/poet/prover"
)

// workerCommand is the hidden subcommand that runs one round's prover in a process of
// its own (see prover.RunProcess); the service starts it, never a person.
const workerCommand = "prover-worker"

// workerPlacement is where the prover process runs, and how it logs.
type workerPlacement struct {
	CPU      int    `json:"cpu"`
	Policy   string `json:"policy"`
	Priority int    `json:"priority"`
	JSONLog  bool   `json:"jsonLog"`
	DebugLog bool   `json:"debugLog"`
}

// proverRunner is how the engine runs a round: in a prover process of its own on the
// prover's CPU when the plan pins one (unless --prover-in-process), else on a locked
// thread of this process. It returns the engine's RunProver (nil: in this process) and
// the function placing that thread.
func proverRunner(cfg *config.Config, plan placement.Plan) (func(context.Context, prover.Config) (*prover.Result, error), func() error, error) {
	if !plan.Pinned() || cfg.Service.ProverInProcess {
		return nil, plan.PinThread, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("finding this binary to run the prover process: %w", err)
	}
	where, err := json.Marshal(workerPlacement{CPU: plan.Prover, Policy: plan.Sched.Policy, Priority: plan.Sched.Priority,
		JSONLog: cfg.JSONLog, DebugLog: cfg.DebugLog})
	if err != nil {
		return nil, nil, err
	}
	run := func(ctx context.Context, pc prover.Config) (*prover.Result, error) {
		// This process leaves the prover's CPU to the prover process; Release (the
		// engine's ProverThreadDone) gives it back after the round.
		if err := plan.ConfineProcess(); err != nil {
			return nil, fmt.Errorf("moving the service off the prover's CPU: %w", err)
		}
		cmd := exec.Command(exe, workerCommand)
		cmd.Stderr = os.Stderr
		cmd.Env = workerEnv(os.Environ())
		return prover.RunProcess(ctx, pc, cmd, where)
	}
	return run, nil, nil
}

// workerEnv is the service's environment without the service key, which the prover
// process has no use for.
func workerEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, identity.EnvVar+"=") {
			out = append(out, e)
		}
	}
	return out
}

// workerMain is the prover process: one P, every thread on the prover's CPU, the
// scheduling policy on the prover thread.
func workerMain() int {
	runtime.GOMAXPROCS(1)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	setup := func(raw json.RawMessage) (func() error, *slog.Logger) {
		var w workerPlacement
		err := json.Unmarshal(raw, &w)
		opts := &slog.HandlerOptions{Level: slog.LevelInfo}
		if w.DebugLog {
			opts.Level = slog.LevelDebug
		}
		h := slog.Handler(slog.NewTextHandler(os.Stderr, opts))
		if w.JSONLog {
			h = slog.NewJSONHandler(os.Stderr, opts)
		}
		log := slog.New(h).With("component", "prover", "pid", os.Getpid())
		if err != nil {
			return func() error { return fmt.Errorf("decoding the placement: %w", err) }, log
		}
		plan := placement.Plan{Allowed: []int{w.CPU}, Prover: w.CPU, Rest: []int{w.CPU},
			Sched: placement.Sched{Policy: w.Policy, Priority: w.Priority}}
		return plan.PinThread, log
	}
	return prover.ServeWorker(ctx, os.Stdin, os.Stdout, setup)
}
