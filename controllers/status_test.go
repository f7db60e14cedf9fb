package controllers

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
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
