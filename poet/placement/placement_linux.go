package placement

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Allowed is the calling thread's CPU affinity; called at start, the process's.
func Allowed() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("reading the CPU affinity: %w", err)
	}
	var out []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Interrupts reads the device interrupts each CPU has served since boot from
// root/proc/interrupts ("/" on a live system); nil when it cannot be read.
func Interrupts(root string) map[int]uint64 {
	b, err := os.ReadFile(filepath.Join(root, "proc/interrupts"))
	if err != nil {
		return nil
	}
	return ParseInterrupts(string(b))
}

// Siblings reads each CPU's SMT siblings from sysfs under root ("/" on a live system).
// A CPU without topology information is its own only sibling.
func Siblings(root string, cpus []int) map[int][]int {
	out := make(map[int][]int, len(cpus))
	for _, c := range cpus {
		out[c] = []int{c}
		b, err := os.ReadFile(filepath.Join(root, "sys/devices/system/cpu", "cpu"+strconv.Itoa(c), "topology/thread_siblings_list"))
		if err != nil {
			continue
		}
		if s, err := ParseList(string(b)); err == nil {
			out[c] = s
		}
	}
	return out
}

func cpuSet(cpus []int) *unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return &set
}

// ConfineProcess moves every thread of the process to p.Rest, repeating until a pass
// finds no thread it has not moved (threads cloned meanwhile inherit their parent's
// affinity, so once every parent is moved no new thread can escape). A plan that does
// not pin the prover changes nothing.
func (p Plan) ConfineProcess() error {
	if !p.Pinned() {
		return nil
	}
	return moveAll(p.Rest)
}

// Release gives every thread of the process all of p.Allowed again, for the time no
// prover thread runs (between rounds). A plan that does not pin the prover changes
// nothing.
func (p Plan) Release() error {
	if !p.Pinned() {
		return nil
	}
	return moveAll(p.Allowed)
}

// moveAll sets every thread's affinity to cpus (see ConfineProcess).
func moveAll(cpus []int) error {
	rest := cpuSet(cpus)
	done := map[int]bool{}
	for {
		tids, err := tasks()
		if err != nil {
			return err
		}
		moved := 0
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, rest); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("moving thread %d to CPUs %s: %w", tid, FormatList(cpus), err)
			}
			done[tid] = true
			moved++
		}
		if moved == 0 {
			return nil
		}
	}
}

// tasks lists the process's thread ids.
func tasks() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("listing threads: %w", err)
	}
	out := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out, nil
}

// PinThread confines every thread to p.Rest, then moves the calling thread, which must
// be locked (runtime.LockOSThread) and never unlocked afterwards, to p.Prover under
// p.Sched. A plan that does not pin the prover only applies the policy.
func (p Plan) PinThread() error {
	if p.Pinned() {
		if err := p.ConfineProcess(); err != nil {
			return err
		}
		if err := unix.SchedSetaffinity(0, cpuSet([]int{p.Prover})); err != nil {
			return fmt.Errorf("pinning the prover thread to CPU %d: %w", p.Prover, err)
		}
	}
	return setSched(p.Sched)
}

// setSched applies a policy to the calling thread.
func setSched(s Sched) error {
	attr := unix.SchedAttr{Size: uint32(unsafe.Sizeof(unix.SchedAttr{}))}
	switch s.Policy {
	case PolicyFIFO:
		attr.Policy, attr.Priority = unix.SCHED_FIFO, uint32(s.Priority)
	case PolicyRR:
		attr.Policy, attr.Priority = unix.SCHED_RR, uint32(s.Priority)
	default:
		return nil
	}
	err := unix.SchedSetAttr(0, &attr, 0)
	if errors.Is(err, unix.EPERM) && raiseSysNice() {
		err = unix.SchedSetAttr(0, &attr, 0)
	}
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("--prover-sched %s --prover-priority %d: %w (or an RLIMIT_RTPRIO of at least %d): %w", s.Policy, s.Priority, ErrNoCapability, s.Priority, err)
		}
		return fmt.Errorf("setting scheduling policy %s: %w", s, err)
	}
	return nil
}

// raiseSysNice moves CAP_SYS_NICE from the calling thread's permitted set into its
// effective set, as a non-root process given the capability by a file capability
// (cap_sys_nice+p) must, and reports whether it did.
func raiseSysNice() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	const bit = uint32(1) << unix.CAP_SYS_NICE // CAP_SYS_NICE is 23, in the first word
	if data[0].Permitted&bit == 0 || data[0].Effective&bit != 0 {
		return false
	}
	data[0].Effective |= bit
	return unix.Capset(&hdr, &data[0]) == nil
}

// CheckSched tries the policy on a thread of its own, which is then discarded, so a
// missing capability is an error at start rather than when the first round executes.
func CheckSched(s Sched) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if !s.RealTime() {
		return nil
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with its policy
		errc <- setSched(s)
	}()
	return <-errc
}

// ThreadSched is a thread's policy and real-time priority from sched_getattr.
func ThreadSched(tid int) (Sched, error) {
	attr, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return Sched{}, fmt.Errorf("reading the scheduling policy of thread %d: %w", tid, err)
	}
	switch attr.Policy {
	case unix.SCHED_FIFO:
		return Sched{Policy: PolicyFIFO, Priority: int(attr.Priority)}, nil
	case unix.SCHED_RR:
		return Sched{Policy: PolicyRR, Priority: int(attr.Priority)}, nil
	}
	return Sched{Policy: PolicyOther}, nil
}

// ThreadCPUs is every thread's Cpus_allowed_list, by thread id, from /proc/self/task.
func ThreadCPUs() (map[int]string, error) {
	tids, err := tasks()
	if err != nil {
		return nil, err
	}
	out := make(map[int]string, len(tids))
	for _, tid := range tids {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", strconv.Itoa(tid), "status"))
		if err != nil {
			continue // the thread exited
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				out[tid] = strings.TrimSpace(v)
			}
		}
	}
	return out, nil
}
