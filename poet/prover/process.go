package prover

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A round can run in a process of its own, the prover process, so that nothing but the
// prover is scheduled on its CPU, by the kernel or by the Go runtime. In the service's
// own process the prover thread cannot keep its CPU during a registration storm, even
// pinned alone to it: every 10 ms the runtime preempts the prover goroutine, which is
// locked to its thread, puts it at the back of the global run queue, and parks the
// thread until another thread, running on the registration CPUs, has worked through the
// goroutines queued ahead of it and hands it back (measured: about 50 times a second,
// 6 ms each, a third of the round lost). In a process of its own, with one P and every
// thread on the prover's CPU, the same handoff takes microseconds.
//
// The protocol: the service starts the prover process with the round's WorkerConfig as
// one JSON line on its standard input, and closes that input to interrupt the round (as
// SIGTERM or SIGINT to the prover process do). The prover process writes progress lines
// to its standard output ("progress <leaves> <checkpoint leaves> <checkpoint unix ns>
// <resumed from>") and exits 0 once the proof is in state.bin, or ExitInterrupted after
// its final checkpoint when interrupted. It dies with the service (SIGKILL on the
// service's death), so no prover outlives the process that would resume it.

// ExitInterrupted is the prover process's exit status for a round interrupted after its
// final checkpoint.
const ExitInterrupted = 3

// WorkerConfig is what the prover process needs of Config: the serialisable part, and
// where to run.
type WorkerConfig struct {
	Dir                string        `json:"dir"`
	Statement          []byte        `json:"statement"`
	End                time.Time     `json:"end"`
	Leaves             uint64        `json:"leaves,omitempty"`
	DiskLayers         uint          `json:"diskLayers"`
	TreeFileBuffer     int           `json:"treeFileBuffer"`
	CheckpointInterval time.Duration `json:"checkpointInterval"`
	TIDFile            string        `json:"tidFile,omitempty"`
	// Placement is opaque here: the prover process's main applies it.
	Placement json.RawMessage `json:"placement,omitempty"`
}

// progressEvery is how often the prover process reports its leaves.
const progressEvery = 100 * time.Millisecond

// RunProcess runs cfg's round in the prover process cmd (not started yet; its Stdin
// and Stdout are RunProcess's, its Stderr the caller's), with placement handed over
// as given, and returns what Run would. cfg.OnThread is not used: the prover process
// places itself. Cancelling ctx interrupts the round; the prover process checkpoints
// and exits.
func RunProcess(ctx context.Context, cfg Config, cmd *exec.Cmd, placement json.RawMessage) (*Result, error) {
	if cfg.Progress == nil {
		cfg.Progress = &Progress{}
	}
	wc := WorkerConfig{Dir: cfg.Dir, Statement: cfg.Statement, End: cfg.End, Leaves: cfg.Leaves, DiskLayers: cfg.DiskLayers,
		TreeFileBuffer: cfg.TreeFileBuffer, CheckpointInterval: cfg.CheckpointInterval, TIDFile: cfg.TIDFile, Placement: placement}
	header, err := json.Marshal(wc)
	if err != nil {
		return nil, fmt.Errorf("encoding the prover process's round: %w", err)
	}
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	// The prover process gets SIGKILL when the thread that started it ends: that thread
	// is locked and waits for it, so it ends only with the service.
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends when the prover process has
		res, err := runProcessLocked(ctx, cfg, cmd, header)
		done <- outcome{res, err}
	}()
	o := <-done
	return o.res, o.err
}

func runProcessLocked(ctx context.Context, cfg Config, cmd *exec.Cmd, header []byte) (*Result, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the prover process: %w", err)
	}
	if _, err := stdin.Write(append(header, '\n')); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("handing the round to the prover process: %w", err)
	}
	stopInterrupt := context.AfterFunc(ctx, func() { stdin.Close() })
	defer stopInterrupt()

	sc := bufio.NewScanner(stdout)
	last := ""
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) == 5 && f[0] == "progress" {
			cfg.Progress.apply(f[1:])
			continue
		}
		last = line
	}
	io.Copy(io.Discard, stdout)
	werr := cmd.Wait()
	stdin.Close()
	var exit *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &exit) && exit.ExitCode() == ExitInterrupted:
		n, _ := cfg.Progress.Checkpoint()
		return nil, fmt.Errorf("round interrupted at %d leaves (checkpointed): %w", n, context.Cause(ctx))
	default:
		if last != "" {
			return nil, fmt.Errorf("the prover process: %s (%w)", last, werr)
		}
		return nil, fmt.Errorf("the prover process: %w", werr)
	}
	st, err := ReadState(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("reading the prover process's proof: %w", err)
	}
	if st.Execution == nil || st.Execution.NIP == nil {
		return nil, fmt.Errorf("the prover process exited without a proof in %s", cfg.Dir)
	}
	cfg.Progress.leaves.Store(st.Execution.NumLeaves)
	return &Result{Proof: st.Execution.NIP, Leaves: st.Execution.NumLeaves}, nil
}

// apply takes a progress line's four numbers.
func (p *Progress) apply(f []string) {
	var v [4]uint64
	for i, s := range f {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return
		}
		v[i] = n
	}
	p.leaves.Store(v[0])
	p.checkpointLeaves.Store(v[1])
	p.checkpointUnix.Store(int64(v[2]))
	p.resumedFrom.Store(v[3])
}

// ServeWorker is the prover process's main: it reads the round from in, takes from
// setup (given the round's placement) what to run first on the prover thread and the
// logger, runs the round, reports progress to out and returns the process's exit
// status. in reaching its end, or ctx ending, interrupts the round.
func ServeWorker(ctx context.Context, in io.Reader, out io.Writer, setup func(placement json.RawMessage) (onThread func() error, log *slog.Logger)) int {
	r := bufio.NewReader(in)
	line, err := r.ReadBytes('\n')
	if err != nil {
		fmt.Fprintf(out, "reading the round: %v\n", err)
		return 2
	}
	var wc WorkerConfig
	if err := json.Unmarshal(line, &wc); err != nil {
		fmt.Fprintf(out, "decoding the round: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // the service closes our input to interrupt the round
		io.Copy(io.Discard, r)
		cancel()
	}()
	p := &Progress{}
	report := func() {
		n, at := p.Checkpoint()
		unix := int64(0)
		if !at.IsZero() {
			unix = at.UnixNano()
		}
		fmt.Fprintf(out, "progress %d %d %d %d\n", p.Leaves(), n, unix, p.ResumedFrom())
	}
	stop := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report()
			case <-stop:
				return
			}
		}
	}()
	cfg := Config{Dir: wc.Dir, Statement: wc.Statement, End: wc.End, Leaves: wc.Leaves, DiskLayers: wc.DiskLayers,
		TreeFileBuffer: wc.TreeFileBuffer, CheckpointInterval: wc.CheckpointInterval, TIDFile: wc.TIDFile, Progress: p}
	if setup != nil {
		cfg.OnThread, cfg.Logger = setup(wc.Placement)
	}
	_, err = Run(ctx, cfg)
	close(stop)
	<-reported
	report()
	switch {
	case err == nil:
		return 0
	case ctx.Err() != nil:
		return ExitInterrupted
	default:
		fmt.Fprintln(out, err)
		return 1
	}
}
