// Package controllers reconciles PoetServices into the objects that run a PoET pod, and
// restarts that pod only where a restart costs no round.
package controllers

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
	"github.com/poet-operator/poet-operator/controllers/specs"
	"github.com/poet-operator/poet-operator/poet/schedule"
	"github.com/poet-operator/poet-operator/poet/status"
)

// StatusReader reads a PoET pod's ops status; tests inject one that reaches a poet
// process on loopback.
type StatusReader func(ctx context.Context, ps *v1alpha1.PoetService, pod *corev1.Pod) (*status.Status, error)

// PoetServiceReconciler reconciles PoetServices.
type PoetServiceReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder record.EventRecorder
	Options  specs.Options
	// ReadStatus reads the pod's /status; nil means HTTP to the pod's stable DNS name.
	ReadStatus StatusReader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=poet.poet-operator.dev,resources=poetservices,verbs=get;list;watch
// +kubebuilder:rbac:groups=poet.poet-operator.dev,resources=poetservices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors,verbs=get;list;watch;create;patch;delete

// observed is what one pass saw; status is computed from it alone.
type observed struct {
	sts         *appsv1.StatefulSet
	pod         *corev1.Pod
	podStatus   *status.Status
	statusErr   error
	pending     bool
	window      Window
	stalled     string
	noClaim     string
	reconcileOK bool
}

// Reconcile brings one PoetService's objects to their desired state.
func (r *PoetServiceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	var ps v1alpha1.PoetService
	if err := r.Get(ctx, req.NamespacedName, &ps); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	obs := &observed{}
	defer func() { err = errors.Join(err, r.writeStatus(ctx, &ps, obs, err)) }()

	if err := r.ensureKey(ctx, &ps); err != nil {
		return ctrl.Result{}, err
	}
	for _, obj := range []client.Object{specs.ConfigMap(&ps), specs.HeadlessService(&ps), specs.ClientService(&ps), specs.PodDisruptionBudget(&ps)} {
		if err := r.applyOwned(ctx, &ps, obj); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.serviceMonitor(ctx, &ps); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.applyStatefulSet(ctx, &ps, obs); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.rollout(ctx, &ps, obs); err != nil {
		return ctrl.Result{}, err
	}
	obs.reconcileOK = true
	return ctrl.Result{RequeueAfter: r.requeue(&ps, obs)}, nil
}

func (r *PoetServiceReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *PoetServiceReconciler) applyOwned(ctx context.Context, ps *v1alpha1.PoetService, obj client.Object) error {
	if err := controllerutil.SetControllerReference(ps, obj, r.Scheme); err != nil {
		return fmt.Errorf("owning %s: %w", obj.GetName(), err)
	}
	return apply(ctx, r.Client, obj)
}

// serviceMonitor keeps a ServiceMonitor while spec.metrics.serviceMonitor is set and
// prometheus-operator's CRD is installed; without the CRD there is nothing to do.
func (r *PoetServiceReconciler) serviceMonitor(ctx context.Context, ps *v1alpha1.PoetService) error {
	if _, err := r.RESTMapper().RESTMapping(specs.ServiceMonitorGVK.GroupKind(), specs.ServiceMonitorGVK.Version); err != nil {
		if meta.IsNoMatchError(err) {
			return nil
		}
		return fmt.Errorf("looking up ServiceMonitor: %w", err)
	}
	sm := specs.ServiceMonitor(ps)
	if !ps.Spec.Metrics.ServiceMonitor {
		if err := r.Delete(ctx, sm); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting the ServiceMonitor: %w", err)
		}
		return nil
	}
	return r.applyOwned(ctx, ps, sm)
}

// ensureKey creates the generated key Secret once and never rewrites it: the key is the
// service's identity and must match state.bin on the volume. Under Retain it has no
// owner, so it outlives the PoetService like the volume and is adopted on re-creation.
func (r *PoetServiceReconciler) ensureKey(ctx context.Context, ps *v1alpha1.PoetService) error {
	if !specs.GeneratesKey(ps) {
		return nil
	}
	var existing corev1.Secret
	err := r.Get(ctx, client.ObjectKey{Namespace: ps.Namespace, Name: specs.KeySecretName(ps)}, &existing)
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return fmt.Errorf("generating the service key: %w", err)
	}
	secret := specs.KeySecret(ps, []byte(base64.StdEncoding.EncodeToString(key)))
	if ps.Spec.Storage.RetentionPolicy == v1alpha1.RetentionDelete {
		if err := controllerutil.SetControllerReference(ps, secret, r.Scheme); err != nil {
			return err
		}
	}
	if err := r.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the service key: %w", err)
	}
	r.event(ps, corev1.EventTypeNormal, v1alpha1.ReasonKeyGenerated, "generated the service key in Secret %s", secret.Name)
	return nil
}

// applyStatefulSet applies the StatefulSet; a volume claim change it cannot take is
// reported as Stalled and the existing template kept, never "fixed" by deleting.
func (r *PoetServiceReconciler) applyStatefulSet(ctx context.Context, ps *v1alpha1.PoetService, obs *observed) error {
	desired := specs.StatefulSet(ps, r.Options)
	var current appsv1.StatefulSet
	err := r.Get(ctx, client.ObjectKeyFromObject(desired), &current)
	switch {
	case err == nil:
		if msg := volumeChange(current.Spec.VolumeClaimTemplates, desired.Spec.VolumeClaimTemplates); msg != "" {
			obs.stalled = msg
		}
		desired.Spec.VolumeClaimTemplates = current.Spec.VolumeClaimTemplates
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("reading the StatefulSet: %w", err)
	}
	if err := r.applyOwned(ctx, ps, desired); err != nil {
		return err
	}
	obs.sts = desired
	if c := ps.Spec.Storage.ExistingClaim; c != "" {
		return r.checkClaim(ctx, ps, obs)
	}
	msg, err := r.growVolume(ctx, ps)
	if msg != "" && obs.stalled == "" {
		obs.stalled = msg
	}
	return err
}

// checkClaim reports an existing claim that is not there: the pod waits for it.
func (r *PoetServiceReconciler) checkClaim(ctx context.Context, ps *v1alpha1.PoetService, obs *observed) error {
	var pvc corev1.PersistentVolumeClaim
	err := r.Get(ctx, client.ObjectKey{Namespace: ps.Namespace, Name: ps.Spec.Storage.ExistingClaim}, &pvc)
	if apierrors.IsNotFound(err) {
		obs.noClaim = fmt.Sprintf("storage.existingClaim %q does not exist in namespace %s; the pod waits for it", ps.Spec.Storage.ExistingClaim, ps.Namespace)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the existing claim: %w", err)
	}
	return nil
}

// volumeChange describes a volume claim template change a StatefulSet cannot take.
func volumeChange(cur, want []corev1.PersistentVolumeClaim) string {
	if len(cur) == 0 || len(want) == 0 {
		return ""
	}
	c, w := cur[0].Spec, want[0].Spec
	if w.StorageClassName != nil && (c.StorageClassName == nil || *c.StorageClassName != *w.StorageClassName) {
		return "storage.storageClassName cannot change on an existing volume; restore it or migrate the data"
	}
	cs, ws := c.Resources.Requests[corev1.ResourceStorage], w.Resources.Requests[corev1.ResourceStorage]
	if ws.Cmp(cs) < 0 {
		return fmt.Sprintf("storage.size cannot shrink from %s to %s", cs.String(), ws.String())
	}
	return ""
}

// growVolume asks for a larger volume through the bound PVC. A refusal (the storage
// class does not allow expansion) is returned as a Stalled message, not an error.
func (r *PoetServiceReconciler) growVolume(ctx context.Context, ps *v1alpha1.PoetService) (string, error) {
	var pvc corev1.PersistentVolumeClaim
	err := r.Get(ctx, client.ObjectKey{Namespace: ps.Namespace, Name: specs.ClaimName(ps)}, &pvc)
	if apierrors.IsNotFound(err) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("reading the volume claim: %w", err)
	}
	want := ps.Spec.Storage.Size
	cur := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if want.IsZero() || want.Cmp(cur) <= 0 || pvc.Status.Phase != corev1.ClaimBound {
		return "", nil
	}
	patch := client.MergeFrom(pvc.DeepCopy())
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = want
	if err := r.Patch(ctx, &pvc, patch); err != nil {
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return fmt.Sprintf("the volume cannot grow to %s: %v", want.String(), err), nil
		}
		return "", fmt.Errorf("growing the volume to %s: %w", want.String(), err)
	}
	r.event(ps, corev1.EventTypeNormal, v1alpha1.ReasonVolumeExpansionRequested, "requested %s for %s", want.String(), pvc.Name)
	return "", nil
}

// rollout replaces the pod when its input hash is stale, only inside the safe window.
// Changing the restart-now annotation changes the hash and restarts at once.
func (r *PoetServiceReconciler) rollout(ctx context.Context, ps *v1alpha1.PoetService, obs *observed) error {
	var pod corev1.Pod
	err := r.Get(ctx, client.ObjectKey{Namespace: ps.Namespace, Name: specs.PodName(ps)}, &pod)
	if apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reading the pod: %w", err)
	}
	obs.pod = &pod
	obs.podStatus, obs.statusErr = r.readStatus(ctx, ps, &pod)
	want := obs.sts.Spec.Template.Annotations[specs.AnnotationInputHash]
	if pod.Annotations[specs.AnnotationInputHash] == want || pod.DeletionTimestamp != nil {
		return nil
	}
	forced := pod.Annotations[v1alpha1.AnnotationRestartNow] != ps.Annotations[v1alpha1.AnnotationRestartNow]
	inside, w := SafeWindow(scheduleOf(ps), r.now(), timingOf(ps), proofState(obs))
	if !inside && !forced {
		obs.pending, obs.window = true, w
		return nil
	}
	if err := r.Delete(ctx, &pod, client.Preconditions{UID: &pod.UID}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("restarting the pod: %w", err)
	}
	if forced {
		r.event(ps, corev1.EventTypeWarning, v1alpha1.ReasonForcedRestart, "restarting pod %s now (%s); the round resumes from its last checkpoint", pod.Name, v1alpha1.AnnotationRestartNow)
	} else {
		r.event(ps, corev1.EventTypeNormal, v1alpha1.ReasonRestarting, "restarting pod %s in the cycle gap to apply the new spec", pod.Name)
	}
	return nil
}

func (r *PoetServiceReconciler) readStatus(ctx context.Context, ps *v1alpha1.PoetService, pod *corev1.Pod) (*status.Status, error) {
	if r.ReadStatus != nil {
		return r.ReadStatus(ctx, ps, pod)
	}
	return HTTPStatusReader(nil)(ctx, ps, pod)
}

func scheduleOf(ps *v1alpha1.PoetService) schedule.Schedule {
	return schedule.Schedule{Genesis: ps.Spec.GenesisTime.Time, EpochDuration: ps.Spec.Round.EpochDuration.Duration,
		PhaseShift: ps.Spec.Round.PhaseShift.Duration, CycleGap: ps.Spec.Round.CycleGap.Duration}
}

func timingOf(ps *v1alpha1.PoetService) RolloutTiming {
	t := DefaultRolloutTiming(scheduleOf(ps))
	if m := ps.Spec.Rollout.RegistrationMargin; m != nil {
		t.Margin = m.Duration
	}
	if g := ps.Spec.Rollout.ProofGrace; g != nil {
		t.ProofGrace = g.Duration
	}
	return t
}

func proofState(obs *observed) ProofState {
	s := obs.podStatus
	if s == nil {
		return ProofState{}
	}
	p := ProofState{Known: true, Executing: s.ExecutingRound != nil}
	if s.LastProofRound != nil {
		p.Published, p.Round = true, *s.LastProofRound
	}
	return p
}

// requeue comes back at the next round boundary or pending window, and at least every
// 30 s to refresh the round status.
func (r *PoetServiceReconciler) requeue(ps *v1alpha1.PoetService, obs *observed) time.Duration {
	now := r.now()
	next := scheduleOf(ps).NextBoundary(now)
	if obs.pending && obs.window.Start.After(now) && obs.window.Start.Before(next) {
		next = obs.window.Start
	}
	return min(max(next.Sub(now), time.Second), 30*time.Second)
}

func (r *PoetServiceReconciler) event(ps *v1alpha1.PoetService, typ, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(ps, typ, reason, format, args...)
	}
}

// SetupWithManager registers the controller and what it watches.
func (r *PoetServiceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.PoetService{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Complete(r)
}
