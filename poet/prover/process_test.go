package prover

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// workerEnv makes this test binary a prover process (see TestMain).
const workerEnv = "POET_PROVER_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		os.Exit(ServeWorker(context.Background(), os.Stdin, os.Stdout, func(json.RawMessage) (func() error, *slog.Logger) {
			return nil, slog.New(slog.NewTextHandler(os.Stderr, nil))
		}))
	}
	os.Exit(m.Run())
}

func workerCmd() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), workerEnv+"=1")
	cmd.Stderr = os.Stderr
	return cmd
}

// A round run in a prover process yields the proof Run does in this process, and the
// progress it reports ends at the round's leaves.
func TestRunProcessMatchesRun(t *testing.T) {
	const n = 5000
	cfg := config(t.TempDir(), n, 2)
	cfg.Progress = &Progress{}
	res, err := RunProcess(context.Background(), cfg, workerCmd(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := posw.Prove(stmt, n)
	if err != nil {
		t.Fatal(err)
	}
	if res.Leaves != n || cfg.Progress.Leaves() != n {
		t.Fatalf("leaves %d, progress %d, want %d", res.Leaves, cfg.Progress.Leaves(), n)
	}
	equalProofs(t, res.Proof, want)
}

// Cancelling interrupts the prover process after a checkpoint, reported as Run reports
// it; the next prover process resumes from that checkpoint to the same proof.
func TestRunProcessCancelCheckpointsAndResumes(t *testing.T) {
	const n = 400_000
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := config(dir, n, 2)
	cfg.Progress = &Progress{}
	go func() {
		for cfg.Progress.Leaves() < 2000 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := RunProcess(ctx, cfg, workerCmd(), nil)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "checkpointed") {
		t.Fatalf("after cancel: %v", err)
	}
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	at, _ := cfg.Progress.Checkpoint()
	if st.Execution.NumLeaves < 2000 || st.Execution.NumLeaves >= n || at != st.Execution.NumLeaves {
		t.Fatalf("checkpoint at %d leaves, reported %d", st.Execution.NumLeaves, at)
	}

	short := config(dir, st.Execution.NumLeaves+1000, 2)
	short.Progress = &Progress{}
	res, err := RunProcess(context.Background(), short, workerCmd(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if short.Progress.ResumedFrom() != st.Execution.NumLeaves {
		t.Fatalf("resumed from %d, checkpoint %d", short.Progress.ResumedFrom(), st.Execution.NumLeaves)
	}
	want, _ := posw.Prove(stmt, short.Leaves)
	equalProofs(t, res.Proof, want)
}

// A prover process that fails says why, in the error.
func TestRunProcessReportsFailure(t *testing.T) {
	dir := t.TempDir()
	run(t, config(dir, 3000, 1)) // a finished round of another statement
	cfg := config(dir, 3000, 1)
	cfg.Statement = []byte("another statement, 32 bytes long")
	_, err := RunProcess(context.Background(), cfg, workerCmd(), nil)
	if err == nil || !strings.Contains(err.Error(), "holds another statement") {
		t.Fatalf("got %v, want the prover process's statement mismatch", err)
	}
}
