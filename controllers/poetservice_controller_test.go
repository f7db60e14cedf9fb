package controllers

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
	"github.com/poet-operator/poet-operator/controllers/specs"
	"github.com/poet-operator/poet-operator/poet/status"
)

const ns = "default"

func newPoetService(name string, genesis time.Time, epoch, shift, gap time.Duration) *v1alpha1.PoetService {
	return &v1alpha1.PoetService{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.PoetServiceSpec{
			GenesisTime: metav1.NewTime(genesis.UTC().Truncate(time.Second)),
			Round: v1alpha1.RoundSpec{
				EpochDuration: metav1.Duration{Duration: epoch},
				PhaseShift:    metav1.Duration{Duration: shift},
				CycleGap:      metav1.Duration{Duration: gap},
			},
		},
	}
}

// createLongRound puts the reconciler's clock back on the real time and creates name, a
// PoetService whose round 0 outlasts any test (genesis now, a 336 h epoch, 240 h phase
// shift, 12 h cycle gap), after edit when there is one.
func createLongRound(ctx context.Context, t *testing.T, name string, edit func(*v1alpha1.PoetService)) *v1alpha1.PoetService {
	t.Helper()
	clock.SetTime(time.Time{})
	ps := newPoetService(name, time.Now(), 336*time.Hour, 240*time.Hour, 12*time.Hour)
	if edit != nil {
		edit(ps)
	}
	if err := k8s.Create(ctx, ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(ctx context.Context, name string, obj client.Object) error {
	return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
}

func markReady(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	if err := k8s.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
}

// update changes a PoetService, retrying when the controller's status write wins.
func update(t *testing.T, name string, change func(*v1alpha1.PoetService)) error {
	t.Helper()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var ps v1alpha1.PoetService
		if err := get(context.Background(), name, &ps); err != nil {
			return err
		}
		change(&ps)
		return k8s.Update(context.Background(), &ps)
	})
}

// poke makes the controller reconcile now (a metadata change raises a watch event).
func poke(t *testing.T, name string) {
	t.Helper()
	if err := update(t, name, func(ps *v1alpha1.PoetService) {
		if ps.Labels == nil {
			ps.Labels = map[string]string{}
		}
		ps.Labels["test/poke"] = fmt.Sprint(time.Now().UnixNano())
	}); err != nil {
		t.Fatal(err)
	}
}

func TestCreatesTheObjectsOfAPoetService(t *testing.T) {
	needControlPlane(t)
	ctx := context.Background()
	ps := createLongRound(ctx, t, "objects", nil)
	for name, obj := range map[string]client.Object{
		"objects-config": &corev1.ConfigMap{}, "objects-key": &corev1.Secret{}, "objects-headless": &corev1.Service{},
		"objects": &corev1.Service{}, "objects-pdb": nil,
	} {
		if obj == nil {
			continue
		}
		eventually(t, "object "+name, func() error { return get(ctx, name, obj) })
	}
	eventually(t, "PDB", func() error { return get(ctx, "objects", &policyv1.PodDisruptionBudget{}) })
	var sts appsv1.StatefulSet
	eventually(t, "StatefulSet", func() error { return get(ctx, "objects", &sts) })
	eventually(t, "pod from the StatefulSet controller", func() error { return get(ctx, "objects-0", &corev1.Pod{}) })
	eventually(t, "PVC from the volume claim template", func() error { return get(ctx, "data-objects-0", &corev1.PersistentVolumeClaim{}) })
	// Defaults came from the CRD's markers, and the controller wrote none into spec.
	if err := get(ctx, "objects", ps); err != nil {
		t.Fatal(err)
	}
	if ps.Spec.Prover.MemoryLayers != 26 || ps.Spec.Prover.LPS != 0 || ps.Spec.Storage.RetentionPolicy != v1alpha1.RetentionRetain || ps.Spec.Image != "" {
		t.Fatalf("spec after reconcile: %+v", ps.Spec)
	}
	eventually(t, "status", func() error {
		if err := get(ctx, "objects", ps); err != nil {
			return err
		}
		ready := meta.FindStatusCondition(ps.Status.Conditions, v1alpha1.ConditionReady)
		if ps.Status.ObservedGeneration != ps.Generation || ready == nil || ready.Status != metav1.ConditionFalse || ps.Status.OpenRound == nil {
			return fmt.Errorf("status %+v", ps.Status)
		}
		return nil
	})
}

// The round timing and genesis are immutable (TestCRDRefusesUnusableSpecs covers the
// rules on a new spec).
func TestRoundTimingAndGenesisAreImmutable(t *testing.T) {
	needControlPlane(t)
	ctx := context.Background()
	g := time.Now()
	ps := newPoetService("immutable", g, time.Minute, time.Second, time.Second)
	if err := k8s.Create(ctx, ps); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*v1alpha1.PoetService){
		"genesis":   func(p *v1alpha1.PoetService) { p.Spec.GenesisTime = metav1.NewTime(p.Spec.GenesisTime.Add(time.Hour)) },
		"cycle gap": func(p *v1alpha1.PoetService) { p.Spec.Round.CycleGap.Duration = 2 * time.Second },
	} {
		if err := update(t, "immutable", change); err == nil || !apierrors.IsInvalid(err) {
			t.Errorf("changing the %s: %v", name, err)
		}
	}
}

// A spec change mid-round leaves the pod alone and says when it will restart; in the
// cycle gap, after the proof is out, the pod is replaced.
func TestRestartWaitsForTheSafeWindow(t *testing.T) {
	needControlPlane(t)
	ctx := context.Background()
	genesis := time.Now().Add(-100 * time.Hour).Truncate(time.Second)
	ps := newPoetService("rollout", genesis, 24*time.Hour, 12*time.Hour, 4*time.Hour)
	s := scheduleOf(ps)
	clock.SetTime(s.RoundStart(3).Add(5 * time.Hour)) // round 3 executing
	executing := uint64(3)
	last := uint64(2)
	statusRead.set("rollout", func(context.Context) (*status.Status, error) {
		return &status.Status{OpenRound: 4, ExecutingRound: &executing, LastProofRound: &last}, nil
	})
	if err := k8s.Create(ctx, ps); err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	eventually(t, "pod", func() error { return get(ctx, "rollout-0", &pod) })
	oldUID, oldHash := pod.UID, pod.Annotations[specs.AnnotationInputHash]

	if err := update(t, "rollout", func(p *v1alpha1.PoetService) { p.Spec.Prover.LPS = 65000 }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "RestartPending", func() error {
		if err := get(ctx, "rollout", ps); err != nil {
			return err
		}
		c := meta.FindStatusCondition(ps.Status.Conditions, v1alpha1.ConditionRestartPending)
		if c == nil || c.Status != metav1.ConditionTrue || ps.Status.NextRestartWindow == nil {
			return fmt.Errorf("conditions %+v", ps.Status.Conditions)
		}
		if !ps.Status.NextRestartWindow.Time.Equal(s.RoundEnd(3)) {
			return fmt.Errorf("next window %s, want %s", ps.Status.NextRestartWindow, s.RoundEnd(3))
		}
		return nil
	})
	if err := get(ctx, "rollout-0", &pod); err != nil || pod.UID != oldUID {
		t.Fatalf("the pod was restarted mid-round: %v", err)
	}

	// Into the gap; the proof of round 3 is out.
	clock.SetTime(s.RoundEnd(3).Add(time.Hour))
	executing, last = 0, 3
	statusRead.set("rollout", func(context.Context) (*status.Status, error) {
		return &status.Status{OpenRound: 4, LastProofRound: &last}, nil
	})
	poke(t, "rollout")
	eventually(t, "pod replaced with the new spec", func() error {
		var p corev1.Pod
		if err := get(ctx, "rollout-0", &p); err != nil {
			return err
		}
		if p.UID == oldUID || p.Annotations[specs.AnnotationInputHash] == oldHash {
			return fmt.Errorf("still the old pod")
		}
		return nil
	})
}

// The restart-now annotation restarts at once, mid-round.
func TestRestartNowAnnotation(t *testing.T) {
	needControlPlane(t)
	ctx := context.Background()
	ps := newPoetService("forced", time.Now().Add(-100*time.Hour), 24*time.Hour, 12*time.Hour, 4*time.Hour)
	clock.SetTime(scheduleOf(ps).RoundStart(3).Add(5 * time.Hour))
	if err := k8s.Create(ctx, ps); err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	eventually(t, "pod", func() error { return get(ctx, "forced-0", &pod) })
	if err := update(t, "forced", func(p *v1alpha1.PoetService) {
		p.Annotations = map[string]string{v1alpha1.AnnotationRestartNow: "2026-11-23T22:00:00Z"}
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "forced restart", func() error {
		var p corev1.Pod
		if err := get(ctx, "forced-0", &p); err != nil {
			return err
		}
		if p.UID == pod.UID {
			return fmt.Errorf("not restarted")
		}
		return nil
	})
}

// The generated key is created once; deleting the PoetService under Retain keeps the
// key and the volume, and a PoetService re-created with the name adopts both.
func TestKeyAndVolumeOutliveThePoetService(t *testing.T) {
	needControlPlane(t)
	ctx := context.Background()
	ps := createLongRound(ctx, t, "retained", nil)
	var key corev1.Secret
	eventually(t, "key", func() error { return get(ctx, "retained-key", &key) })
	eventually(t, "PVC", func() error { return get(ctx, "data-retained-0", &corev1.PersistentVolumeClaim{}) })
	orig := bytes.Clone(key.Data[specs.KeyEnv])
	poke(t, "retained")
	time.Sleep(500 * time.Millisecond)
	if err := get(ctx, "retained-key", &key); err != nil || !bytes.Equal(key.Data[specs.KeyEnv], orig) {
		t.Fatalf("key rewritten: %v", err)
	}
	if err := k8s.Delete(ctx, ps); err != nil {
		t.Fatal(err)
	}
	eventually(t, "StatefulSet garbage-collected", func() error {
		if err := get(ctx, "retained", &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
	if err := get(ctx, "data-retained-0", &corev1.PersistentVolumeClaim{}); err != nil {
		t.Fatalf("the volume went with the PoetService: %v", err)
	}
	if err := get(ctx, "retained-key", &key); err != nil {
		t.Fatalf("the key went with the PoetService: %v", err)
	}
	again := newPoetService("retained", ps.Spec.GenesisTime.Time, 336*time.Hour, 240*time.Hour, 12*time.Hour)
	if err := k8s.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	eventually(t, "StatefulSet again", func() error { return get(ctx, "retained", &appsv1.StatefulSet{}) })
	if err := get(ctx, "retained-key", &key); err != nil || !bytes.Equal(key.Data[specs.KeyEnv], orig) {
		t.Fatalf("the key was not adopted: %v", err)
	}
}

// Status reflects a real poet process, reached through the injected reader.
func TestStatusFromARealPoet(t *testing.T) {
	needControlPlane(t)
	if testing.Short() {
		t.Skip("runs a poet")
	}
	ctx := context.Background()
	clock.SetTime(time.Time{})
	dir := t.TempDir()
	bin := filepath.Join(dir, "poet")
	if out, err := exec.Command("go", "build", "-o", bin, "../poet/cmd/poet").CombinedOutput(); err != nil {
		t.Fatalf("building poet: %v\n%s", err, out)
	}
	genesis := time.Now().Truncate(time.Second)
	free := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}
	ops := free()
	_, opsPort, _ := net.SplitHostPort(ops)
	cmd := exec.Command(bin, "--poetdir", dir, "--genesis-time", genesis.Format(time.RFC3339),
		"--epoch-duration", "8s", "--phase-shift", "2s", "--cycle-gap", "2s",
		"--restlisten", free(), "--rpclisten", free(), "--config-rpclisten", free(), "--metrics-port", opsPort)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	client := &http.Client{Timeout: 2 * time.Second}
	statusRead.set("real", func(ctx context.Context) (*status.Status, error) {
		return status.Fetch(ctx, client, "http://"+ops)
	})
	ps := newPoetService("real", genesis, 8*time.Second, 2*time.Second, 2*time.Second)
	if err := k8s.Create(ctx, ps); err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	eventually(t, "pod", func() error { return get(ctx, "real-0", &pod) })
	markReady(t, &pod)
	eventually(t, "status of an executing round", func() error {
		poke(t, "real")
		if err := get(ctx, "real", ps); err != nil {
			return err
		}
		st := ps.Status
		ready := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
		exec := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionRoundExecuting)
		cpu := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionCPUExclusive)
		if ready == nil || ready.Status != metav1.ConditionTrue || exec == nil || exec.Status != metav1.ConditionTrue ||
			st.ExecutingRound == nil || st.Leaves == 0 || cpu == nil || cpu.Status == metav1.ConditionUnknown {
			return fmt.Errorf("status %+v\n%s", st, strings.TrimSpace(log.String()))
		}
		return nil
	})
	t.Logf("status: open %d executing %d leaves %d (%d/s)", *ps.Status.OpenRound, *ps.Status.ExecutingRound, ps.Status.Leaves, ps.Status.LeavesPerSecond)
}

// With prometheus-operator's CRD installed, metrics.serviceMonitor keeps a ServiceMonitor
// that selects the client Service only.
func TestServiceMonitor(t *testing.T) {
	needControlPlane(t)
	ctx := context.Background()
	createLongRound(ctx, t, "monitored", func(ps *v1alpha1.PoetService) {
		ps.Spec.Metrics.ServiceMonitor = true
	})
	sm := &unstructured.Unstructured{}
	sm.SetGroupVersionKind(specs.ServiceMonitorGVK)
	eventually(t, "ServiceMonitor", func() error { return get(ctx, "monitored", sm) })
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	var client, headless corev1.Service
	eventually(t, "Services", func() error {
		if err := get(ctx, "monitored", &client); err != nil {
			return err
		}
		return get(ctx, "monitored-headless", &headless)
	})
	matches := func(l map[string]string) bool {
		for k, v := range sel {
			if l[k] != v {
				return false
			}
		}
		return true
	}
	if !matches(client.Labels) || matches(headless.Labels) {
		t.Fatalf("selector %v; client %v headless %v", sel, client.Labels, headless.Labels)
	}
	if err := update(t, "monitored", func(p *v1alpha1.PoetService) { p.Spec.Metrics.ServiceMonitor = false }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ServiceMonitor removed", func() error {
		if err := get(ctx, "monitored", sm); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
}

// A volume claim change the StatefulSet cannot take is Stalled; nothing is deleted.
func TestVolumeChangeIsStalled(t *testing.T) {
	needControlPlane(t)
	ctx := context.Background()
	ps := createLongRound(ctx, t, "volume", nil)
	var sts appsv1.StatefulSet
	eventually(t, "StatefulSet", func() error { return get(ctx, "volume", &sts) })
	uid := sts.UID
	if err := update(t, "volume", func(p *v1alpha1.PoetService) { p.Spec.Storage.StorageClassName = ptr.To("other") }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Stalled", func() error {
		if err := get(ctx, "volume", ps); err != nil {
			return err
		}
		c := meta.FindStatusCondition(ps.Status.Conditions, v1alpha1.ConditionStalled)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "storageClassName") {
			return fmt.Errorf("conditions %+v", ps.Status.Conditions)
		}
		return nil
	})
	if err := get(ctx, "volume", &sts); err != nil || sts.UID != uid {
		t.Fatalf("the StatefulSet was replaced: %v", err)
	}
}

// Under retention Delete the volume and the generated key go with the PoetService.
func TestRetentionDelete(t *testing.T) {
	needControlPlane(t)
	ctx := context.Background()
	ps := createLongRound(ctx, t, "ephemeral", func(ps *v1alpha1.PoetService) {
		ps.Spec.Storage.RetentionPolicy = v1alpha1.RetentionDelete
	})
	eventually(t, "PVC", func() error { return get(ctx, "data-ephemeral-0", &corev1.PersistentVolumeClaim{}) })
	eventually(t, "key", func() error { return get(ctx, "ephemeral-key", &corev1.Secret{}) })
	if err := k8s.Delete(ctx, ps); err != nil {
		t.Fatal(err)
	}
	gone := func(name string, obj client.Object) func() error {
		return func() error {
			err := get(ctx, name, obj)
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err == nil && obj.GetDeletionTimestamp() != nil {
				return nil // held by a finalizer that no kubelet or volume controller here clears
			}
			return fmt.Errorf("%s still there (%v)", name, err)
		}
	}
	eventually(t, "key deleted", gone("ephemeral-key", &corev1.Secret{}))
	eventually(t, "volume deleted", gone("data-ephemeral-0", &corev1.PersistentVolumeClaim{}))
}

// A PoetService on an existing claim (a reference poet's volume): the StatefulSet owns
// no claim and mounts it, no key is generated (the volume's key is the service's), a
// missing claim is named in Ready, the claim cannot be swapped, and deleting the
// PoetService under Delete leaves the user's claim alone.
func TestExistingClaim(t *testing.T) {
	needControlPlane(t)
	ctx := context.Background()
	ps := createLongRound(ctx, t, "adopted", func(ps *v1alpha1.PoetService) {
		ps.Spec.Storage.ExistingClaim = "reference-poet-data"
		ps.Spec.Storage.RetentionPolicy = v1alpha1.RetentionDelete
	})
	readyReason := func(want string) func() error {
		return func() error {
			var cur v1alpha1.PoetService
			if err := get(ctx, "adopted", &cur); err != nil {
				return err
			}
			c := meta.FindStatusCondition(cur.Status.Conditions, v1alpha1.ConditionReady)
			if c == nil || c.Reason != want {
				return fmt.Errorf("Ready %+v, want reason %s", c, want)
			}
			return nil
		}
	}
	eventually(t, "ExistingClaimNotFound", readyReason(v1alpha1.ReasonClaimNotFound))

	var sts appsv1.StatefulSet
	eventually(t, "StatefulSet", func() error { return get(ctx, "adopted", &sts) })
	if len(sts.Spec.VolumeClaimTemplates) != 0 {
		t.Fatalf("claim templates %v", sts.Spec.VolumeClaimTemplates)
	}
	if err := get(ctx, "adopted-key", &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a key Secret was generated for an existing claim (%v)", err)
	}

	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "reference-poet-data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	if err := k8s.Create(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	poke(t, "adopted")
	eventually(t, "the claim found", readyReason(v1alpha1.ReasonPodNotReady)) // no kubelet here

	err := update(t, "adopted", func(ps *v1alpha1.PoetService) { ps.Spec.Storage.ExistingClaim = "other" })
	if err == nil || !strings.Contains(err.Error(), "existingClaim is immutable") {
		t.Fatalf("changing the claim: %v", err)
	}

	if err := k8s.Delete(ctx, ps); err != nil {
		t.Fatal(err)
	}
	eventually(t, "StatefulSet garbage-collected", func() error {
		if err := get(ctx, "adopted", &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
	var kept corev1.PersistentVolumeClaim
	if err := get(ctx, "reference-poet-data", &kept); err != nil || kept.DeletionTimestamp != nil {
		t.Fatalf("the user's claim after deletion under Delete: %v %v", err, kept.DeletionTimestamp)
	}
}
