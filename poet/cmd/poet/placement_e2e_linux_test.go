package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/poet-operator/poet-operator/poet/placement"
	"github.com/poet-operator/poet-operator/poet/status"
)

// The running service pins its prover thread (the round.tid thread) to the CPU /status
// names, under the asked-for policy, and every other thread runs on the other CPUs.
func TestPlacementEndToEnd(t *testing.T) {
	allowed, err := placement.Allowed()
	if err != nil || len(allowed) < 2 {
		t.Skipf("the test may run on %v only (%v): nothing to pin", allowed, err)
	}
	args := []string{}
	want := "other"
	if rt := (placement.Sched{Policy: placement.PolicyRR, Priority: 5}); placement.CheckSched(rt) == nil {
		args, want = []string{"--prover-sched", "rr", "--prover-priority", "5"}, "rr:5"
	}
	p := newPoet(t, -phaseShift+time.Second, args...)
	p.start()
	_, opsPort, _ := net.SplitHostPort(p.ops)
	base := "http://127.0.0.1:" + opsPort
	var st *status.Status
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err = status.Fetch(context.Background(), nil, base)
		if err == nil && st.ExecutingRound != nil && st.Leaves > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no executing round: %+v %v\n%s", st, err, p.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.ProverCPU == nil || st.OtherCPUs == "" || st.ProverSched != want {
		t.Fatalf("status %+v", st)
	}
	b, err := os.ReadFile(filepath.Join(p.dir, "data", "round.tid"))
	if err != nil {
		t.Fatal(err)
	}
	proverTID, _ := strconv.Atoi(string(b))
	pid := p.cmd.Process.Pid
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	seenProver := false
	for _, e := range tasks {
		s, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var list string
		for line := range strings.Lines(string(s)) {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				list = strings.TrimSpace(v)
			}
		}
		tid, _ := strconv.Atoi(e.Name())
		if tid == proverTID {
			seenProver = true
			if list != strconv.Itoa(*st.ProverCPU) {
				t.Errorf("the prover thread %d runs on %q, want %d", tid, list, *st.ProverCPU)
			}
			if s, err := placement.ThreadSched(tid); err != nil || s.String() != want {
				t.Errorf("the prover thread runs %v %v, want %s", s, err, want)
			}
		} else if list != st.OtherCPUs {
			t.Errorf("thread %d runs on %q, want %q", tid, list, st.OtherCPUs)
		}
	}
	if !seenProver {
		t.Fatalf("no thread %d in process %d", proverTID, pid)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "poet_prover_cpu "+strconv.Itoa(*st.ProverCPU)+"\n") ||
		!strings.Contains(string(metrics), `other_cpus="`+st.OtherCPUs+`"`) {
		t.Errorf("metrics lack the placement:\n%s", metrics)
	}
	if !strings.Contains(p.log.String(), `"proverCPU":`+strconv.Itoa(*st.ProverCPU)) {
		t.Errorf("the start log lacks the placement:\n%s", p.log)
	}
	t.Logf("prover thread %d on CPU %d (%s), %d threads on %s", proverTID, *st.ProverCPU, want, len(tasks)-1, st.OtherCPUs)
}

// Asking for a real-time policy without CAP_SYS_NICE fails at start with a clear error.
// The binary runs with CAP_SYS_NICE dropped from its bounding set (on a locked thread
// that then exits) and RLIMIT_RTPRIO 0.
func TestProverSchedWithoutCapability(t *testing.T) {
	bin := buildPoet(t)
	dir := t.TempDir()
	type result struct {
		out []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread's bounding set changes
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_SYS_NICE, 0, 0, 0); err != nil {
			res <- result{nil, &skipError{err}}
			return
		}
		cmd := exec.Command("/bin/sh", "-c", `ulimit -r 0 && exec "$@"`, "sh", bin, "--poetdir", dir,
			"--prover-sched", "fifo", "--prover-priority", "10", "--restlisten", "127.0.0.1:0", "--rpclisten", "127.0.0.1:0",
			"--config-rpclisten", "127.0.0.1:0")
		out, err := cmd.CombinedOutput()
		res <- result{out, err}
	}()
	var r result
	select {
	case r = <-res:
	case <-time.After(30 * time.Second):
		t.Fatal("the poet did not exit")
	}
	var skip *skipError
	if errors.As(r.err, &skip) {
		t.Skipf("cannot drop CAP_SYS_NICE: %v", skip.error)
	}
	var exit *exec.ExitError
	if !errors.As(r.err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(r.out), "needs CAP_SYS_NICE") {
		t.Fatalf("poet = %v:\n%s", r.err, r.out)
	}
	t.Logf("%s", r.out)
}

type skipError struct{ error }
