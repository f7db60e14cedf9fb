package controllers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
	"github.com/poet-operator/poet-operator/controllers/specs"
	"github.com/poet-operator/poet-operator/poet/status"
)

// HTTPStatusReader reads /status from the pod's stable DNS name through the headless
// Service; c nil means a client with a 5 s timeout.
func HTTPStatusReader(c *http.Client) StatusReader {
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	return func(ctx context.Context, ps *v1alpha1.PoetService, pod *corev1.Pod) (*status.Status, error) {
		host := fmt.Sprintf("%s.%s.%s.svc", pod.Name, specs.HeadlessServiceName(ps), ps.Namespace)
		return status.Fetch(ctx, c, "http://"+net.JoinHostPort(host, strconv.Itoa(int(ps.Spec.Metrics.Port))))
	}
}

// computeStatus is the status that follows from one pass's observations.
func computeStatus(ps *v1alpha1.PoetService, obs *observed, reconcileErr error, now time.Time) v1alpha1.PoetServiceStatus {
	st := *ps.Status.DeepCopy()
	st.ObservedGeneration = ps.Generation
	open := int64(scheduleOf(ps).OpenRound(now))
	st.OpenRound = &open
	st.Endpoint = fmt.Sprintf("http://%s.%s.svc:%d", ps.Name, ps.Namespace, ps.Spec.Service.Port)
	set := func(typ string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: ps.Generation})
	}
	roundStatus(&st, ps, obs, set)

	st.NextRestartWindow = nil
	if obs.pending {
		t := metav1.NewTime(obs.window.Start)
		st.NextRestartWindow = &t
		set(v1alpha1.ConditionRestartPending, metav1.ConditionTrue, v1alpha1.ReasonWaitingForWindow,
			fmt.Sprintf("the pod runs an old spec; it restarts in the next safe window, %s to %s",
				obs.window.Start.UTC().Format(time.RFC3339), obs.window.End.UTC().Format(time.RFC3339)))
	} else {
		set(v1alpha1.ConditionRestartPending, metav1.ConditionFalse, v1alpha1.ReasonUpToDate, "the pod runs the current spec")
	}
	if obs.stalled != "" {
		set(v1alpha1.ConditionStalled, metav1.ConditionTrue, v1alpha1.ReasonVolumeChange, obs.stalled)
	} else {
		set(v1alpha1.ConditionStalled, metav1.ConditionFalse, v1alpha1.ReasonAvailable, "")
	}

	ready, reason, msg := readiness(obs, reconcileErr)
	if ready {
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, reason, msg)
	} else {
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	}
	if ready && !obs.pending {
		set(v1alpha1.ConditionReconciling, metav1.ConditionFalse, v1alpha1.ReasonAvailable, "")
	} else if obs.stalled == "" {
		set(v1alpha1.ConditionReconciling, metav1.ConditionTrue, v1alpha1.ReasonProgressing, msg)
	}
	return st
}

// roundStatus copies the round figures from the pod's /status and sets RoundExecuting
// and CPUExclusive from it (Unknown when it cannot be read).
func roundStatus(st *v1alpha1.PoetServiceStatus, ps *v1alpha1.PoetService, obs *observed, set func(string, metav1.ConditionStatus, string, string)) {
	s := obs.podStatus
	if s == nil {
		msg := "the pod does not exist yet"
		if obs.statusErr != nil {
			msg = obs.statusErr.Error()
		}
		set(v1alpha1.ConditionRoundExecuting, metav1.ConditionUnknown, v1alpha1.ReasonStatusUnreachable, msg)
		set(v1alpha1.ConditionCPUExclusive, metav1.ConditionUnknown, v1alpha1.ReasonStatusUnreachable, msg)
		return
	}
	st.Members, st.Leaves, st.LeavesPerSecond = int64(s.Members), int64(s.Leaves), int64(s.LeavesPerSecond)
	st.ExecutingRound = nil
	if s.ExecutingRound != nil {
		e := int64(*s.ExecutingRound)
		st.ExecutingRound = &e
	}
	if s.LastProofRound != nil {
		l := int64(*s.LastProofRound)
		st.LastProofRound = &l
	}
	st.Prover = proverStatus(s, ps.Status.Prover, obs.pod)
	if s.ExecutingRound != nil {
		set(v1alpha1.ConditionRoundExecuting, metav1.ConditionTrue, v1alpha1.ReasonExecuting,
			fmt.Sprintf("round %d: %d leaves, %d/s", *s.ExecutingRound, s.Leaves, int64(s.LeavesPerSecond)))
	} else {
		set(v1alpha1.ConditionRoundExecuting, metav1.ConditionFalse, v1alpha1.ReasonIdle, "no round is executing")
	}
	why := s.CPUExclusiveReason
	if s.CPUExclusive {
		if why == "" {
			why = "cpuset " + s.Cpuset + " is the pod's alone"
		}
		set(v1alpha1.ConditionCPUExclusive, metav1.ConditionTrue, v1alpha1.ReasonExclusive, why)
		return
	}
	if why == "" {
		why = "cpuset " + s.Cpuset + " is shared"
	}
	set(v1alpha1.ConditionCPUExclusive, metav1.ConditionFalse, v1alpha1.ReasonShared, why+"; run on nodes with the static CPU manager policy")
}

// readiness is the Ready condition: the first thing that keeps the poet from serving.
func readiness(obs *observed, reconcileErr error) (ready bool, reason, msg string) {
	podReady := obs.pod != nil && podIsReady(obs.pod)
	switch {
	case reconcileErr != nil:
		return false, v1alpha1.ReasonReconcileError, reconcileErr.Error()
	case obs.stalled != "":
		return false, v1alpha1.ReasonVolumeChange, obs.stalled
	case obs.noClaim != "":
		return false, v1alpha1.ReasonClaimNotFound, obs.noClaim
	case !podReady && obs.pod != nil && podExit(obs.pod) != "":
		reason, msg := exitReason(podExit(obs.pod))
		return false, reason, msg
	case !podReady:
		return false, v1alpha1.ReasonPodNotReady, "the poet pod is not ready"
	case obs.podStatus == nil:
		return false, v1alpha1.ReasonStatusUnreachable, "the poet's status cannot be read"
	}
	return true, v1alpha1.ReasonAvailable, "the poet serves"
}

// proverStatus is the rate in use from the pod's /status; a measured one keeps the node
// it was first seen on.
func proverStatus(s *status.Status, was *v1alpha1.ProverStatus, pod *corev1.Pod) *v1alpha1.ProverStatus {
	if s.LPSInUse == 0 {
		return was
	}
	p := &v1alpha1.ProverStatus{LPSInUse: int64(s.LPSInUse), LPSSource: s.LPSSource}
	if s.LPSMeasuredAt == nil || (s.LPSSource != "measured" && s.LPSSource != "calibrated") {
		return p
	}
	at := metav1.NewTime(s.LPSMeasuredAt.UTC().Truncate(time.Second))
	p.MeasuredLPS, p.MeasuredAt = int64(s.LPSInUse), &at
	switch {
	case was != nil && was.MeasuredAt != nil && was.MeasuredAt.Equal(&at):
		p.MeasuredOn = was.MeasuredOn
	case pod != nil:
		p.MeasuredOn = pod.Spec.NodeName
	}
	return p
}

// podExit is the poet container's last words when it ended with an error and has not
// run ready since: its termination message (the tail of its log).
func podExit(p *corev1.Pod) string {
	for _, c := range p.Status.ContainerStatuses {
		if c.Name != specs.ContainerName {
			continue
		}
		for _, t := range []*corev1.ContainerStateTerminated{c.State.Terminated, c.LastTerminationState.Terminated} {
			if t != nil && t.ExitCode != 0 {
				if m := strings.TrimSpace(t.Message); m != "" {
					return m
				}
				return fmt.Sprintf("exit code %d (%s)", t.ExitCode, t.Reason)
			}
		}
	}
	return ""
}

// exitReason classifies the poet's last words: the refusals that need a person get a
// reason and advice of their own.
func exitReason(words string) (reason, msg string) {
	last := lastLine(words)
	switch {
	case strings.Contains(words, "private key mismatch"):
		return v1alpha1.ReasonServiceKeyMismatch, "the poet refuses to start: the key it is given differs from the one in its data directory (data/state.bin), " +
			"which is the service's identity and is never replaced. Point spec.serviceKeySecretRef at a Secret holding that key " +
			"(tail -c 64 data/state.bin | base64 -w0), or with storage.existingClaim remove serviceKeySecretRef to use it. The poet said: " + last
	case strings.Contains(words, "belongs to another round schedule"):
		return v1alpha1.ReasonScheduleMismatch, "the poet refuses to start: its data directory was made under another genesis or round timing. The poet said: " + last
	}
	return v1alpha1.ReasonPoetExited, "the poet exited: " + last
}

// lastLine is the last non-empty line of s, at most 1,000 bytes of it.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if len(l) > 1000 {
		l = l[len(l)-1000:]
	}
	return l
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// writeStatus is the only status write of a pass, and only when the status changed.
func (r *PoetServiceReconciler) writeStatus(ctx context.Context, ps *v1alpha1.PoetService, obs *observed, reconcileErr error) error {
	st := computeStatus(ps, obs, reconcileErr, r.now())
	if equality.Semantic.DeepEqual(st, ps.Status) {
		return nil
	}
	before := ps.DeepCopy()
	ps.Status = st
	if err := r.Status().Patch(ctx, ps, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionRestartPending, v1alpha1.ConditionStalled} {
		old, cur := meta.FindStatusCondition(before.Status.Conditions, typ), meta.FindStatusCondition(st.Conditions, typ)
		if cur != nil && (old == nil || old.Status != cur.Status) && cur.Status == metav1.ConditionTrue {
			r.event(ps, eventType(typ), cur.Reason, "%s: %s", typ, cur.Message)
		}
	}
	return nil
}

func eventType(cond string) string {
	if cond == v1alpha1.ConditionStalled {
		return corev1.EventTypeWarning
	}
	return corev1.EventTypeNormal
}
