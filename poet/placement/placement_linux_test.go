package placement

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// restoreAffinity gives every thread the process's start set back after a test.
func restoreAffinity(t *testing.T, allowed []int) {
	t.Cleanup(func() {
		tids, _ := tasks()
		for _, tid := range tids {
			unix.SchedSetaffinity(tid, cpuSet(allowed))
		}
	})
}

// blockThreads makes the runtime create threads: each goroutine blocks its thread in a
// read(2) on a pipe until release is closed.
func blockThreads(t *testing.T, n int) (release func()) {
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [1]byte
			unix.Read(fds[0], b[:])
		}()
	}
	return func() {
		unix.Close(fds[1])
		wg.Wait()
		unix.Close(fds[0])
	}
}

// The prover thread runs on its CPU alone: every other thread, including those the
// runtime creates after the pinning (from ordinary threads and from the locked prover
// thread itself), reads back the rest set from /proc/self/task/*/status.
func TestConfineAndPin(t *testing.T) {
	allowed, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed) < 2 {
		t.Skipf("the test process may run on %s only: nothing to pin", FormatList(allowed))
	}
	restoreAffinity(t, allowed)
	p, err := Choose(allowed, -1, Siblings("/", allowed), Interrupts("/"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ConfineProcess(); err != nil {
		t.Fatal(err)
	}
	type pinned struct {
		tid int
		err error
	}
	ready, stop := make(chan pinned), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		err := p.PinThread()
		ready <- pinned{unix.Gettid(), err}
		// New threads wanted while this thread is locked come from the template thread.
		release := blockThreads(t, 4)
		<-stop
		release()
	}()
	pt := <-ready
	if pt.err != nil {
		t.Fatal(pt.err)
	}
	release := blockThreads(t, 8) // and from ordinary threads, after the pinning
	defer release()
	var cpus map[int]string
	for range 100 { // the blocked goroutines' threads appear as the runtime hands them off
		if cpus, err = ThreadCPUs(); err != nil {
			t.Fatal(err)
		}
		if len(cpus) >= 12 {
			break
		}
		runtime.Gosched()
	}
	close(stop)
	<-done
	want := FormatList(p.Rest)
	if cpus[pt.tid] != strconv.Itoa(p.Prover) {
		t.Errorf("prover thread %d runs on %q, want %d", pt.tid, cpus[pt.tid], p.Prover)
	}
	for tid, list := range cpus {
		if tid != pt.tid && list != want {
			t.Errorf("thread %d runs on %q, want the rest %q", tid, list, want)
		}
	}
	t.Logf("prover thread %d on CPU %d; %d other threads on %s", pt.tid, p.Prover, len(cpus)-1, want)
	if len(cpus) < 6 {
		t.Errorf("only %d threads: the test did not make the runtime create threads", len(cpus))
	}
	// Between rounds every thread gets every CPU back.
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if cpus, err = ThreadCPUs(); err != nil {
		t.Fatal(err)
	}
	for tid, list := range cpus {
		if list != FormatList(allowed) {
			t.Errorf("after Release thread %d runs on %q, want %q", tid, list, FormatList(allowed))
		}
	}
}

const childEnv = "POET_PLACEMENT_TEST_CHILD"

// capEffective reports whether a capability is in the calling thread's effective set.
func capEffective(t *testing.T, capability int) bool {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return mask&(1<<capability) != 0
		}
	}
	t.Fatal("no CapEff")
	return false
}

func TestSchedWithCapability(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child without CAP_SYS_NICE")
	}
	if !capEffective(t, unix.CAP_SYS_NICE) {
		t.Skip("the test process has no CAP_SYS_NICE")
	}
	s := Sched{Policy: PolicyFIFO, Priority: 7}
	if err := CheckSched(s); err != nil {
		t.Fatal(err)
	}
	for _, s := range []Sched{{Policy: PolicyFIFO, Priority: 7}, {Policy: PolicyRR, Priority: 3}} {
		got := make(chan Sched, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the real-time thread exits with the goroutine
			p := Plan{Prover: -1, Sched: s}
			if err := p.PinThread(); err != nil {
				t.Error(err)
			}
			r, err := ThreadSched(unix.Gettid())
			if err != nil {
				t.Error(err)
			}
			got <- r
		}()
		if r := <-got; r != s {
			t.Errorf("the thread runs %v, want %v", r, s)
		}
	}
	if r, err := ThreadSched(unix.Gettid()); err != nil || r.RealTime() {
		t.Errorf("another thread runs %v %v", r, err)
	}
}

// Without CAP_SYS_NICE a real-time policy is a clear error. The test runs itself again
// in a child whose bounding set lacks CAP_SYS_NICE (dropped on a locked thread that then
// exits, so the parent keeps its capabilities) and whose RLIMIT_RTPRIO is 0.
func TestSchedWithoutCapability(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		if capEffective(t, unix.CAP_SYS_NICE) {
			t.Fatal("the child has CAP_SYS_NICE")
		}
		if err := unix.Setrlimit(unix.RLIMIT_RTPRIO, &unix.Rlimit{}); err != nil {
			t.Fatal(err)
		}
		err := CheckSched(Sched{Policy: PolicyRR, Priority: 10})
		if !errors.Is(err, ErrNoCapability) || !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "CAP_SYS_NICE") {
			t.Fatalf("CheckSched = %v, want ErrNoCapability", err)
		}
		if err := CheckSched(Sched{Policy: PolicyOther}); err != nil {
			t.Fatal(err)
		}
		t.Log(err)
		return
	}
	out := make(chan error, 1)
	var output []byte
	go func() {
		runtime.LockOSThread() // never unlocked: this thread's bounding set is changed
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_SYS_NICE, 0, 0, 0); err != nil {
			out <- err
			return
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestSchedWithoutCapability$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{}
		var err error
		output, err = cmd.CombinedOutput()
		if err != nil {
			err = &childError{err}
		}
		out <- err
	}()
	err := <-out
	var ce *childError
	switch {
	case errors.As(err, &ce):
		t.Fatalf("the child failed: %v\n%s", err, output)
	case err != nil:
		t.Skipf("cannot drop CAP_SYS_NICE for a child: %v", err)
	}
	if !strings.Contains(string(output), "--- PASS: TestSchedWithoutCapability") || !strings.Contains(string(output), "CAP_SYS_NICE") {
		t.Fatalf("the child did not run the check:\n%s", output)
	}
	t.Logf("child:\n%s", output)
}

type childError struct{ error }

// A thread with CAP_SYS_NICE permitted but not effective (a non-root process given the
// capability by a file capability) raises it and sets the policy.
func TestSchedRaisesPermittedCapability(t *testing.T) {
	if os.Getenv(childEnv) != "" || !capEffective(t, unix.CAP_SYS_NICE) {
		t.Skip("the test process has no CAP_SYS_NICE")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread's capabilities and policy change
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		data[0].Effective &^= 1 << unix.CAP_SYS_NICE
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		var lim unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_RTPRIO, &lim); lim.Cur != 0 {
			errc <- errors.New("RLIMIT_RTPRIO is not 0: the test would not need the capability")
			return
		}
		s := Sched{Policy: PolicyFIFO, Priority: 3}
		if err := (Plan{Prover: -1, Sched: s}).PinThread(); err != nil {
			errc <- err
			return
		}
		if got, err := ThreadSched(unix.Gettid()); err != nil || got != s {
			errc <- errors.New("the policy did not take: " + got.String())
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
