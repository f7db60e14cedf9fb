package main

import (
	"context"
	"errors"
	"fmt"
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

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
	"github.com/poet-operator/poet-operator/poet/placement"
	"github.com/poet-operator/poet-operator/poet/status"
)

// The running service runs its prover (the round.tid thread) in a prover process whose
// threads all run on the CPU /status names, the prover thread under the asked-for
// policy, and every thread of the service itself runs on the other CPUs. The prover
// process dies with the service.
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
	// The prover runs in a process of its own, started by the service: every thread of
	// it on the prover's CPU, every thread of the service on the others.
	worker, _ := strconv.Atoi(procField(t, fmt.Sprintf("/proc/%d/status", proverTID), "Tgid"))
	if worker == pid || procField(t, fmt.Sprintf("/proc/%d/status", worker), "PPid") != strconv.Itoa(pid) {
		t.Fatalf("the prover thread %d is in process %d, not in a prover process of the service %d", proverTID, worker, pid)
	}
	check := func(proc int, want string) int {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", proc))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tasks {
			list := procField(t, fmt.Sprintf("/proc/%d/task/%s/status", proc, e.Name()), "Cpus_allowed_list")
			if list != want {
				t.Errorf("thread %s of process %d runs on %q, want %q", e.Name(), proc, list, want)
			}
		}
		return len(tasks)
	}
	workerThreads := check(worker, strconv.Itoa(*st.ProverCPU))
	serviceThreads := check(pid, st.OtherCPUs)
	if s, err := placement.ThreadSched(proverTID); err != nil || s.String() != want {
		t.Errorf("the prover thread runs %v %v, want %s", s, err, want)
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
	t.Logf("prover thread %d on CPU %d (%s) in prover process %d (%d threads); the service's %d threads on %s",
		proverTID, *st.ProverCPU, want, worker, workerThreads, serviceThreads, st.OtherCPUs)

	// The prover process dies with the service: no prover outlives the process that
	// would resume its round.
	p.cmd.Process.Kill()
	p.cmd.Wait()
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", worker)); os.IsNotExist(err) {
			break
		}
		if z := procField(t, fmt.Sprintf("/proc/%d/status", worker), "State"); strings.HasPrefix(z, "Z") {
			break // dead, waiting to be reaped by init
		}
		if time.Now().After(deadline) {
			t.Fatalf("the prover process %d outlived the killed service", worker)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procField is one field of a /proc status file, "" when the file or field is gone.
func procField(t *testing.T, path, key string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Asking for a real-time policy without CAP_SYS_NICE fails at start with a clear error.
// The binary runs with CAP_SYS_NICE dropped from its bounding set (on a locked thread
// that then exits) and RLIMIT_RTPRIO 0.
func TestProverSchedWithoutCapability(t *testing.T) {
	bin := testutil.BuildBinary(t, ".")
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
