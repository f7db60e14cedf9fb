package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
	"github.com/poet-operator/poet-operator/poet/placement"
)

// --cpu N runs every thread, the prover thread (round.tid) among them, on N, as the
// service's prover process does; read back from /proc/<pid>/task/*/status while the
// run goes on.
func TestCPUPinsLikeTheService(t *testing.T) {
	allowed, err := placement.Allowed()
	if err != nil || len(allowed) < 2 {
		t.Skipf("the test may run on %v only (%v)", allowed, err)
	}
	bin := testutil.BuildBinary(t, ".")
	cpu := allowed[0] // not the service's default, so the flag is what places it
	dir := filepath.Join(t.TempDir(), "round")
	var out bytes.Buffer
	cmd := exec.Command(bin, "-d", "3s", "--datadir", dir, "--cpu", strconv.Itoa(cpu))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var tid int
	for deadline := time.Now().Add(10 * time.Second); tid == 0; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(dir, "round.tid")); err == nil && len(b) > 0 {
			tid, _ = strconv.Atoi(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no round.tid:\n%s", out.String())
		}
	}
	// The prover thread pins itself before it writes round.tid.
	pid := strconv.Itoa(cmd.Process.Pid)
	tasks, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tasks {
		b, err := os.ReadFile("/proc/" + pid + "/task/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var list string
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				list = strings.TrimSpace(v)
			}
		}
		if want := strconv.Itoa(cpu); list != want {
			t.Errorf("thread %s (prover %d) runs on %q, want %q", e.Name(), tid, list, want)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "prover thread on CPU "+strconv.Itoa(cpu)) || !lastLine.MatchString(out.String()) {
		t.Fatalf("output:\n%s", out.String())
	}
	bad := exec.Command(bin, "-d", "1s", "--cpu", "4095")
	if b, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(b), "not among the process's CPUs") {
		t.Fatalf("--cpu 4095: %v\n%s", err, b)
	}
}
