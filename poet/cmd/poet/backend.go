package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/poet-operator/poet-operator/poet/cpuinfo"
	"github.com/poet-operator/poet-operator/poet/placement"
	"github.com/poet-operator/poet-operator/poet/registration"
	"github.com/poet-operator/poet-operator/poet/round"
	"github.com/poet-operator/poet-operator/poet/schedule"
	"github.com/poet-operator/poet-operator/poet/server"
	"github.com/poet-operator/poet-operator/poet/status"
)

// backend serves the API from the registry, the round engine and the schedule.
type backend struct {
	sched    schedule.Schedule
	registry *registration.Registry
	engine   *round.Engine
	key      ed25519.PrivateKey
	cpu      cpuinfo.Info
	plan     placement.Plan
	version  string
}

var _ server.Backend = (*backend)(nil)

func (b *backend) Info() server.Info {
	now := time.Now()
	info := server.Info{
		ServicePubkey: b.key.Public().(ed25519.PublicKey),
		PhaseShift:    b.sched.PhaseShift,
		CycleGap:      b.sched.CycleGap,
		ValidUntil:    b.sched.RoundStart(b.sched.OpenRound(now)),
	}
	if url, pub, ok := b.registry.Certifier(); ok {
		info.Certifier = &server.Certifier{URL: url, Pubkey: pub}
	}
	return info
}

// PowParams are valid until the next proof is published: the end of the executing
// round, or of the open round when none executes.
func (b *backend) PowParams() (registration.PowParams, time.Time) {
	now := time.Now()
	open := b.sched.OpenRound(now)
	until := b.sched.RoundEnd(open)
	if open > 0 && now.Before(b.sched.RoundEnd(open-1)) {
		until = b.sched.RoundEnd(open - 1)
	}
	return b.registry.PowParams(), until
}

func (b *backend) Submit(ctx context.Context, req registration.SubmitRequest) (uint64, time.Time, error) {
	n, err := b.registry.Submit(ctx, req)
	if err != nil {
		return 0, time.Time{}, err
	}
	return n, b.sched.RoundEnd(n), nil
}

func (b *backend) Proof(_ context.Context, round uint64) (*registration.StoredProof, error) {
	return b.registry.Proof(round)
}

func (b *backend) ReloadTrustedKeys(context.Context) error {
	return b.registry.ReloadTrustedKeys()
}

func (b *backend) Status() status.Status {
	s := b.engine.Snapshot()
	st := status.Status{
		OpenRound:          s.OpenRound,
		Members:            uint64(b.registry.RoundMembers(s.OpenRound)),
		NextRoundStart:     b.sched.RoundStart(s.OpenRound),
		CPUExclusive:       b.cpu.Exclusive,
		CPUExclusiveReason: b.cpu.Reason,
		Cpuset:             b.cpu.Cpuset,
		Version:            b.version,
		OtherCPUs:          placement.FormatList(b.plan.Rest),
		LPSInUse:           s.LPS,
		LPSSource:          s.LPSSource,
		LPSMeasuredAt:      timeOrNil(s.LPSMeasuredAt),
		ProverSched:        b.plan.Sched.String(),
	}
	if b.plan.Pinned() {
		c := b.plan.Prover
		st.ProverCPU = &c
	}
	if s.Executing {
		r := s.ExecutingRound
		st.ExecutingRound = &r
		st.ExecutingMembers = uint64(s.ExecutingMembers)
		st.Leaves = s.Leaves
		st.LeavesPerSecond = s.LeavesPerSecond
	}
	if s.LastProof {
		r := s.LastProofRound
		st.LastProofRound = &r
		if at := s.LastProofAt; !at.IsZero() {
			st.LastProofAt = &at
		}
	}
	return st
}

// Ready is nil while registrations can be taken and the rounds of an earlier run are
// taken over: the store is open and the engine is not recovering.
func (b *backend) Ready() error {
	if b.registry == nil || b.engine == nil {
		return errors.New("not started")
	}
	if !b.registry.Open() {
		return errors.New("the registration store is closed")
	}
	return b.engine.Ready()
}

// timeOrNil is t, or nil when t is zero.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
