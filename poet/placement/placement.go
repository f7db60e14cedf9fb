// Package placement gives the prover thread a CPU of its own inside the process's
// allowed set: with two or more CPUs one goes to the prover thread (and, where the set
// allows it, its SMT siblings stay idle), every other thread of the process, including
// those the Go runtime creates later, runs on the rest. With one CPU nothing changes.
// Optionally the prover thread runs under a real-time policy (SCHED_FIFO or SCHED_RR).
//
// Threads the Go runtime creates inherit the affinity of the thread that clones them,
// except that a thread locked with runtime.LockOSThread hands creation to the runtime's
// template thread. So: every existing thread is moved to the rest first (ConfineProcess,
// at start), then the locked prover thread moves itself to its CPU (PinThread); no
// thread cloned afterwards can inherit the prover's CPU.
package placement

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Policies of --prover-sched.
const (
	PolicyOther = "other"
	PolicyFIFO  = "fifo"
	PolicyRR    = "rr"
)

// ErrNoCapability reports a real-time policy the process may not set (no CAP_SYS_NICE).
var ErrNoCapability = errors.New("setting a real-time scheduling policy needs CAP_SYS_NICE")

// ErrUnsupported reports placement asked for on a system without thread affinity.
var ErrUnsupported = errors.New("thread placement is supported on Linux only")

// Sched is the prover thread's scheduling policy.
type Sched struct {
	// Policy is PolicyOther, PolicyFIFO or PolicyRR.
	Policy string
	// Priority is the real-time priority, 1..99, for PolicyFIFO and PolicyRR.
	Priority int
}

// Validate checks the policy and its priority.
func (s Sched) Validate() error {
	switch s.Policy {
	case PolicyOther, "":
		return nil
	case PolicyFIFO, PolicyRR:
		if s.Priority < 1 || s.Priority > 99 {
			return fmt.Errorf("priority %d: a real-time policy takes 1..99", s.Priority)
		}
		return nil
	}
	return fmt.Errorf("scheduling policy %q: want %s, %s or %s", s.Policy, PolicyOther, PolicyFIFO, PolicyRR)
}

// RealTime reports a real-time policy.
func (s Sched) RealTime() bool { return s.Policy == PolicyFIFO || s.Policy == PolicyRR }

// String is "other" or "fifo:<priority>".
func (s Sched) String() string {
	if !s.RealTime() {
		return PolicyOther
	}
	return s.Policy + ":" + strconv.Itoa(s.Priority)
}

// Plan is where the process's threads run.
type Plan struct {
	// Allowed is the CPUs the process may run on at start, ascending.
	Allowed []int
	// Prover is the prover thread's CPU, -1 when the prover is not pinned.
	Prover int
	// Idle is the prover CPU's SMT siblings kept free of other threads.
	Idle []int
	// Rest is the CPUs every other thread runs on (Allowed when the prover is not pinned).
	Rest []int
	// Sched is the prover thread's scheduling policy.
	Sched Sched
}

// Pinned reports a plan that gives the prover a CPU of its own.
func (p Plan) Pinned() bool { return p.Prover >= 0 }

// GoMaxProcs is the GOMAXPROCS for the plan: a P for the prover and one per CPU of the
// rest, no more than current (a CFS quota may have lowered it) unless current is below 2.
// It must be set explicitly: the runtime would otherwise follow the affinity of its
// monitor thread, which is the rest alone, and let other goroutines take the prover's P.
func (p Plan) GoMaxProcs(current int) int {
	if !p.Pinned() {
		return current
	}
	n := len(p.Rest) + 1
	if current >= 2 && current < n {
		n = current
	}
	return n
}

// Choose places the prover within allowed. requested is --prover-cpu, -1 for the
// default: among the CPUs whose SMT siblings (siblings[cpu], the CPU itself included)
// are all allowed and leave other CPUs for the rest (else among all), the one that has
// served the fewest device interrupts (irqs, per CPU; nil when unknown), the
// highest-numbered of those. Every device interrupt routed to the prover's CPU (a
// disk's completions, a network card's) stops the prover for its handler, and
// interrupts go where the kernel routed them before: on a VM whose disk interrupts all
// land on one vCPU, that vCPU is the service's and not the prover's. Siblings of the
// prover's CPU stay idle when that leaves the rest a CPU. With fewer than two CPUs the
// prover is not pinned, and a requested CPU is an error.
func Choose(allowed []int, requested int, siblings map[int][]int, irqs map[int]uint64) (Plan, error) {
	allowed = slices.Sorted(slices.Values(allowed))
	allowed = slices.Compact(allowed)
	p := Plan{Allowed: allowed, Prover: -1, Rest: allowed}
	if len(allowed) < 2 {
		if requested >= 0 {
			return p, fmt.Errorf("prover CPU %d: the process may run on %s only, so there is no CPU to give the prover alone", requested, FormatList(allowed))
		}
		return p, nil
	}
	idleFor := func(c int) ([]int, bool) {
		var idle []int
		for _, s := range siblings[c] {
			if s == c {
				continue
			}
			if !slices.Contains(allowed, s) {
				return nil, false
			}
			idle = append(idle, s)
		}
		return idle, len(allowed)-1-len(idle) > 0
	}
	switch {
	case requested >= 0:
		if !slices.Contains(allowed, requested) {
			return p, fmt.Errorf("prover CPU %d is not among the process's CPUs %s", requested, FormatList(allowed))
		}
		p.Prover = requested
		if idle, ok := idleFor(requested); ok {
			p.Idle = idle
		}
	default:
		// better: fewer interrupts, then the higher number.
		better := func(c, than int) bool {
			return than < 0 || irqs[c] < irqs[than] || irqs[c] == irqs[than] && c > than
		}
		for _, c := range allowed {
			if idle, ok := idleFor(c); ok && better(c, p.Prover) {
				p.Prover, p.Idle = c, idle
			}
		}
		if p.Prover < 0 {
			for _, c := range allowed {
				if better(c, p.Prover) {
					p.Prover = c
				}
			}
		}
	}
	p.Rest = nil
	for _, c := range allowed {
		if c != p.Prover && !slices.Contains(p.Idle, c) {
			p.Rest = append(p.Rest, c)
		}
	}
	return p, nil
}

// ParseList parses a Linux CPU list such as "0-3,8" into ascending CPUs.
func ParseList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty CPU list")
	}
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad CPU %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 1<<16 {
				return nil, fmt.Errorf("bad CPU range %q", part)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// FormatList writes CPUs as a Linux CPU list, "0-3,8".
func FormatList(cpus []int) string {
	cpus = slices.Compact(slices.Sorted(slices.Values(cpus)))
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}

// ParseInterrupts reads the text of /proc/interrupts: the device interrupts (the rows
// numbered by IRQ, not the architecture's LOC, RES, NMI and the like) each CPU has
// served since boot, by CPU number. nil when the text has no CPU header.
func ParseInterrupts(text string) map[int]uint64 {
	lines := strings.Split(text, "\n")
	var cpus []int
	for _, f := range strings.Fields(lines[0]) {
		n, err := strconv.Atoi(strings.TrimPrefix(f, "CPU"))
		if !strings.HasPrefix(f, "CPU") || err != nil {
			return nil
		}
		cpus = append(cpus, n)
	}
	if len(cpus) == 0 {
		return nil
	}
	out := make(map[int]uint64, len(cpus))
	for _, c := range cpus {
		out[c] = 0
	}
	for _, l := range lines[1:] {
		label, rest, ok := strings.Cut(l, ":")
		if _, err := strconv.Atoi(strings.TrimSpace(label)); !ok || err != nil {
			continue
		}
		f := strings.Fields(rest)
		for i, c := range cpus {
			if i >= len(f) {
				break
			}
			n, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				break
			}
			out[c] += n
		}
	}
	return out
}
