package main

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/prover"
)

func runBench(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("poet_bench %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var lastLine = regexp.MustCompile(`(?m)^leaves/s: [0-9]+\n\z`)

// kill -9 of a running poet_bench at a random moment after its first checkpoint, then
// --resume: the proof is valid and the same as an uninterrupted run's.
func TestKill9ThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the prover for seconds")
	}
	bin := testutil.BuildBinary(t, ".")
	const leaves = "150000"
	want := filepath.Join(t.TempDir(), "want.json")
	runBench(t, bin, "--leaves", leaves, "--proof-out", want)

	dir := t.TempDir()
	cmd := exec.Command(bin, "--datadir", dir, "--leaves", leaves, "--checkpoint-interval", "100ms")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := prover.ReadState(dir)
		if err == nil && st.Execution != nil && st.Execution.NumLeaves > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint within a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Duration(rand.Int64N(int64(400 * time.Millisecond))))
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) {
		t.Fatalf("poet_bench finished before it was killed (%v): make the run longer", err)
	}
	st, err := prover.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(t.TempDir(), "got.json")
	out := runBench(t, bin, "--datadir", dir, "--resume", "--leaves", leaves, "--proof-out", got)
	if !strings.Contains(out, "resumed from leaf") || !lastLine.MatchString(out) {
		t.Fatalf("unexpected output:\n%s", out)
	}
	t.Logf("killed after a checkpoint at %d leaves; resumed:\n%s", st.Execution.NumLeaves, out)
	runBench(t, bin, "--verify", got)
	a, _, err := readProofFile(want)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := readProofFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Root, b.Root) {
		t.Fatalf("resumed root %x, uninterrupted %x", b.Root, a.Root)
	}
}

func TestDurationRunPrintsRate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the prover for a second")
	}
	bin := testutil.BuildBinary(t, ".")
	dir := t.TempDir()
	proof := filepath.Join(dir, "p.json")
	out := runBench(t, bin, "-d", "1s", "--datadir", filepath.Join(dir, "round"), "--proof-out", proof)
	if !lastLine.MatchString(out) {
		t.Fatalf("last line is not the rate:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "round", "round.tid")); err != nil {
		t.Fatal(err)
	}
	if out := runBench(t, bin, "--verify", proof); !strings.Contains(out, "valid proof") {
		t.Fatal(out)
	}
	cmd := exec.Command(bin, "--verify", proof, "--statement", "00")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "invalid proof") {
		t.Fatalf("verified against another statement: %v\n%s", err, out)
	}
	// The run is there: starting over needs --resume or a clean directory.
	cmd = exec.Command(bin, "-d", "1s", "--datadir", filepath.Join(dir, "round"))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "--resume") {
		t.Fatalf("reused a datadir silently: %v\n%s", err, out)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--leaves", "149"},
		{"--statement", "zz"},
		{"--resume"},
		{"-d", "0s"},
		{"--checkpoint-interval", "-1s"},
		{"stray"},
		{"--no-such-flag"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(o.statement) != defaultStatement || o.duration != 10*time.Second {
		t.Fatalf("defaults: %q %s", o.statement, o.duration)
	}
	o, err = parseFlags([]string{"--duration", "3s"})
	if err != nil || o.duration != 3*time.Second {
		t.Fatalf("--duration: %v %v", o, err)
	}
}

func TestProofFileRoundTrip(t *testing.T) {
	p, err := posw.Prove([]byte(defaultStatement), 200)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.json")
	if err := writeProofFile(path, p, 200, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if !bytes.Contains(raw, []byte(`"members":[],"leaves":"200"},"pubkey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`)) {
		t.Fatalf("not the REST shape: %s", raw)
	}
	q, n, err := readProofFile(path)
	if err != nil || n != 200 {
		t.Fatal(n, err)
	}
	if err := posw.Verify([]byte(defaultStatement), q, n); err != nil {
		t.Fatal(err)
	}
}
