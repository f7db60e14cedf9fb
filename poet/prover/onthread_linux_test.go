package prover

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// OnThread runs on the thread whose id goes to round.tid, before any work; its error
// stops the round.
func TestOnThreadRunsOnTheProverThread(t *testing.T) {
	dir := t.TempDir()
	cfg := config(dir, 150, 1)
	cfg.TIDFile = filepath.Join(dir, "round.tid")
	var hookTID int
	cfg.OnThread = func() error { hookTID = syscall.Gettid(); return nil }
	run(t, cfg)
	b, err := os.ReadFile(cfg.TIDFile)
	if err != nil {
		t.Fatal(err)
	}
	if tid, _ := strconv.Atoi(string(b)); tid != hookTID || tid == syscall.Gettid() {
		t.Fatalf("round.tid %s, OnThread ran on %d, the caller is %d", b, hookTID, syscall.Gettid())
	}

	boom := errors.New("boom")
	cfg = config(t.TempDir(), 150, 1)
	cfg.OnThread = func() error { return boom }
	if _, err := Run(context.Background(), cfg); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the OnThread error", err)
	}
}
