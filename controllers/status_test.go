package controllers

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
	"github.com/poet-operator/poet-operator/controllers/specs"
	"github.com/poet-operator/poet-operator/poet/status"
)

// The CPUExclusive condition carries the pod's own reason, False and True alike.
func TestCPUExclusiveConditionReason(t *testing.T) {
	ps := newPoetService("cpu", time.Now(), time.Hour, 30*time.Minute, 10*time.Minute)
	for _, tc := range []struct {
		st     status.Status
		want   metav1.ConditionStatus
		reason string
		msg    string
	}{
		{status.Status{Cpuset: "0-7", CPUExclusiveReason: "the CPU limit is unknown: no CFS quota and POET_CPU_LIMIT_MILLIS is not set"},
			metav1.ConditionFalse, v1alpha1.ReasonShared, "the CPU limit is unknown"},
		{status.Status{Cpuset: "0-7"}, metav1.ConditionFalse, v1alpha1.ReasonShared, "cpuset 0-7 is shared"},
		{status.Status{Cpuset: "2-3", CPUExclusive: true, CPUExclusiveReason: "the cpuset 2-3 is the container's 2 whole CPUs"},
			metav1.ConditionTrue, v1alpha1.ReasonExclusive, "2 whole CPUs"},
	} {
		st := computeStatus(ps, &observed{podStatus: &tc.st}, nil, time.Now())
		c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionCPUExclusive)
		if c == nil || c.Status != tc.want || c.Reason != tc.reason || !strings.Contains(c.Message, tc.msg) {
			t.Errorf("%+v: condition %+v", tc.st, c)
		}
	}
}

// A poet that exits is explained in Ready: a refused key or schedule by a reason of its
// own with advice, anything else by its last words; a claim that is missing, by name.
func TestReadyExplainsWhyThePoetDoesNotRun(t *testing.T) {
	ps := newPoetService("exit", time.Now(), time.Hour, 30*time.Minute, 10*time.Minute)
	crashed := func(msg string, code int32) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name:                 specs.ContainerName,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error", Message: msg}},
		}}}}
	}
	for _, tc := range []struct {
		name   string
		obs    observed
		reason string
		says   []string
	}{
		{"key", observed{pod: crashed("time=... level=INFO msg=x\ntime=... level=ERROR msg=\"poet stopped\" error=\"loading the service key: private key mismatch: POET_PRIVATE_KEY is not the key in /data/data/state.bin\"\n", 1)},
			v1alpha1.ReasonServiceKeyMismatch, []string{"serviceKeySecretRef", "state.bin", "private key mismatch: POET_PRIVATE_KEY"}},
		{"schedule", observed{pod: crashed(`{"level":"ERROR","msg":"poet stopped","error":"the data directory belongs to another round schedule: ..."}`, 1)},
			v1alpha1.ReasonScheduleMismatch, []string{"another genesis", "belongs to another round schedule"}},
		{"other", observed{pod: crashed("line one\nopening registrations: disk full\n", 1)},
			v1alpha1.ReasonPoetExited, []string{"opening registrations: disk full"}},
		{"killed without words", observed{pod: crashed("", 137)},
			v1alpha1.ReasonPoetExited, []string{"exit code 137"}},
		{"clean exit is not a crash", observed{pod: crashed("poet stopped", 0)},
			v1alpha1.ReasonPodNotReady, nil},
		{"missing claim", observed{noClaim: `storage.existingClaim "old" does not exist`},
			v1alpha1.ReasonClaimNotFound, []string{`"old"`}},
	} {
		st := computeStatus(ps, &tc.obs, nil, time.Now())
		c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != tc.reason {
			t.Errorf("%s: Ready %+v, want False/%s", tc.name, c, tc.reason)
			continue
		}
		for _, s := range tc.says {
			if !strings.Contains(c.Message, s) {
				t.Errorf("%s: %q does not say %q", tc.name, c.Message, s)
			}
		}
	}
}

// status.prover shows the rate the poet uses; a measured or calibrated one carries when
// it was measured and the node the pod ran on when the operator first saw it.
func TestProverStatus(t *testing.T) {
	ps := newPoetService("lps", time.Now(), time.Hour, 30*time.Minute, 10*time.Minute)
	at := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	on := func(node string) *corev1.Pod { return &corev1.Pod{Spec: corev1.PodSpec{NodeName: node}} }

	st := computeStatus(ps, &observed{podStatus: &status.Status{LPSInUse: 78000, LPSSource: "default"}, pod: on("a")}, nil, time.Now())
	if p := st.Prover; p == nil || p.LPSInUse != 78000 || p.LPSSource != "default" || p.MeasuredLPS != 0 || p.MeasuredAt != nil || p.MeasuredOn != "" {
		t.Fatalf("default: %+v", p)
	}
	st = computeStatus(ps, &observed{podStatus: &status.Status{LPSInUse: 9500, LPSSource: "calibrated", LPSMeasuredAt: &at}, pod: on("a")}, nil, time.Now())
	if p := st.Prover; p.MeasuredLPS != 9500 || !p.MeasuredAt.Time.Equal(at) || p.MeasuredOn != "a" || p.LPSSource != "calibrated" {
		t.Fatalf("calibrated: %+v", p)
	}
	// The pod moved, the measurement did not: it stays "on a".
	ps.Status = st
	st = computeStatus(ps, &observed{podStatus: &status.Status{LPSInUse: 9500, LPSSource: "calibrated", LPSMeasuredAt: &at}, pod: on("b")}, nil, time.Now())
	if st.Prover.MeasuredOn != "a" {
		t.Fatalf("moved pod: %+v", st.Prover)
	}
	// A round's own measurement on the new node replaces it.
	later := at.Add(time.Hour)
	ps.Status = st
	st = computeStatus(ps, &observed{podStatus: &status.Status{LPSInUse: 9100, LPSSource: "measured", LPSMeasuredAt: &later}, pod: on("b")}, nil, time.Now())
	if p := st.Prover; p.MeasuredLPS != 9100 || p.MeasuredOn != "b" || p.LPSSource != "measured" {
		t.Fatalf("measured: %+v", p)
	}
	// Given: no measurement shown.
	st = computeStatus(ps, &observed{podStatus: &status.Status{LPSInUse: 60000, LPSSource: "given"}, pod: on("b")}, nil, time.Now())
	if p := st.Prover; p.LPSInUse != 60000 || p.MeasuredAt != nil || p.MeasuredLPS != 0 {
		t.Fatalf("given: %+v", p)
	}
}
