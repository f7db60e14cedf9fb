package specs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
	"github.com/poet-operator/poet-operator/poet/cpuinfo"
)

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

// nonRoot is the distroless nonroot user.
const nonRoot = 65532

// ContainerName is the poet container's name in the pod.
const ContainerName = "poet"

// terminationGrace covers the poet's shutdown timeout (20 s) and a final checkpoint.
const terminationGrace = 60

// Image is the poet image a PoetService runs.
func Image(ps *v1alpha1.PoetService, o Options) string {
	if ps.Spec.Image != "" {
		return ps.Spec.Image
	}
	return o.DefaultImage
}

// KeyRef is where the pod reads POET_PRIVATE_KEY: the user's Secret or the generated
// one; nil when the key is the one in an existing claim's data directory.
func KeyRef(ps *v1alpha1.PoetService) *corev1.SecretKeySelector {
	if r := ps.Spec.ServiceKeySecretRef; r != nil {
		return r
	}
	if !GeneratesKey(ps) {
		return nil
	}
	return &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: KeySecretName(ps)}, Key: KeyEnv}
}

// GeneratesKey reports whether the operator generates the service key: when none is
// given and the volume is its own. An existing claim brings its key in
// data/state.bin (the poet creates one there if it holds none).
func GeneratesKey(ps *v1alpha1.PoetService) bool {
	return ps.Spec.ServiceKeySecretRef == nil && ps.Spec.Storage.ExistingClaim == ""
}

// PodName is the name of the PoetService's one pod.
func PodName(ps *v1alpha1.PoetService) string { return ps.Name + "-0" }

// ClaimName is the name of the pod's volume claim: the existing one, or the one the
// StatefulSet makes from its template.
func ClaimName(ps *v1alpha1.PoetService) string {
	if c := ps.Spec.Storage.ExistingClaim; c != "" {
		return c
	}
	return claimTemplate + "-" + PodName(ps)
}

// claimTemplate is the volume claim template's name, and the pod's data volume's.
const claimTemplate = "data"

// CPUs is the pod's whole-CPU request and limit.
func CPUs(ps *v1alpha1.PoetService) int64 {
	return int64(ps.Spec.Prover.CPUs + ps.Spec.Resources.ExtraCPUs)
}

// StatefulSet runs one poet pod with a volume claim template. Pods are replaced only
// when the operator deletes them (OnDelete), inside the safe window of the round cycle.
func StatefulSet(ps *v1alpha1.PoetService, o Options) *appsv1.StatefulSet {
	s := &ps.Spec
	retention := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if s.Storage.RetentionPolicy == v1alpha1.RetentionDelete {
		retention = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	pod := PodTemplate(ps, o)
	hash := hashInputs(pod, ConfigFile(ps))
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationInputHash] = hash
	sts := &appsv1.StatefulSet{
		TypeMeta:   typeMeta("apps/v1", "StatefulSet"),
		ObjectMeta: meta(ps, ps.Name),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](1),
			ServiceName:         HeadlessServiceName(ps),
			Selector:            &metav1.LabelSelector{MatchLabels: SelectorLabels(ps)},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: retention,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			Template: pod,
		},
	}
	if s.Storage.ExistingClaim != "" {
		return sts // the pod template mounts the claim; the StatefulSet owns none
	}
	sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
		ObjectMeta: metav1.ObjectMeta{Name: claimTemplate, Labels: SelectorLabels(ps)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: s.Storage.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: s.Storage.Size}},
		},
	}}
	return sts
}

// PodTemplate is the poet pod: Guaranteed QoS with whole CPUs for the static CPU
// manager, a restricted security context, probes on the ops port.
func PodTemplate(ps *v1alpha1.PoetService, o Options) corev1.PodTemplateSpec {
	s := &ps.Spec
	res := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(CPUs(ps), resource.DecimalSI),
		corev1.ResourceMemory: s.Resources.Memory,
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("metrics")}},
			PeriodSeconds: period, TimeoutSeconds: 5, FailureThreshold: 6,
		}
	}
	volumes, mounts := podVolumes(ps)
	env := podEnv(ps)
	args := append([]string{"--configfile=" + ConfigPath + "/poet.conf"}, s.ExtraArgs...)
	ports := []corev1.ContainerPort{
		{Name: "rest", ContainerPort: RESTPort, Protocol: corev1.ProtocolTCP},
		{Name: "grpc", ContainerPort: GRPCPort, Protocol: corev1.ProtocolTCP},
		{Name: "metrics", ContainerPort: s.Metrics.Port, Protocol: corev1.ProtocolTCP},
	}
	var annotations map[string]string
	if v := ps.Annotations[v1alpha1.AnnotationRestartNow]; v != "" {
		// A new value changes the input hash: the operator restarts the pod at once.
		annotations = map[string]string{v1alpha1.AnnotationRestartNow: v}
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: Labels(ps), Annotations: annotations},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](terminationGrace),
			ImagePullSecrets:              s.ImagePullSecrets,
			NodeSelector:                  s.Scheduling.NodeSelector,
			Tolerations:                   s.Scheduling.Tolerations,
			Affinity:                      s.Scheduling.Affinity,
			PriorityClassName:             s.Scheduling.PriorityClassName,
			EnableServiceLinks:            ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](nonRoot), RunAsGroup: ptr.To[int64](nonRoot),
				FSGroup: ptr.To[int64](nonRoot), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            ContainerName,
				Image:           Image(ps, o),
				ImagePullPolicy: s.ImagePullPolicy,
				Args:            args,
				Env:             env,
				Ports:           ports,
				Resources:       corev1.ResourceRequirements{Requests: res, Limits: res},
				LivenessProbe:   probe("/healthz", 10),
				ReadinessProbe:  probe("/readyz", 5),
				StartupProbe:    &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("metrics")}}, PeriodSeconds: 5, FailureThreshold: 120},
				VolumeMounts:    mounts,
				// The poet's last log lines say why it stopped (a key or schedule it
				// refuses); the operator reads them into the Ready condition.
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true), RunAsNonRoot: ptr.To(true),
					Capabilities: capabilities(ps),
				},
			}},
			Volumes: volumes,
		},
	}
}

// podVolumes is the pod's volumes and the poet container's mounts: the data volume
// (the claim template's, or an existing claim), poet.conf, /tmp and the trusted keys.
func podVolumes(ps *v1alpha1.PoetService) ([]corev1.Volume, []corev1.VolumeMount) {
	s := &ps.Spec
	mounts := []corev1.VolumeMount{
		{Name: claimTemplate, MountPath: DataPath},
		{Name: "config", MountPath: ConfigPath, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(ps)}}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if c := s.Storage.ExistingClaim; c != "" {
		volumes = append(volumes, corev1.Volume{Name: claimTemplate, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	if tk := s.Registration.TrustedKeys; tk != nil {
		v := corev1.Volume{Name: "trusted-keys"}
		if tk.ConfigMap != nil {
			v.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: *tk.ConfigMap}
		} else if tk.Secret != nil {
			v.Secret = &corev1.SecretVolumeSource{SecretName: tk.Secret.Name}
		}
		volumes = append(volumes, v)
		mounts = append(mounts, corev1.VolumeMount{Name: "trusted-keys", MountPath: TrustedPath, ReadOnly: true})
	}
	return volumes, mounts
}

// podEnv is the poet container's environment: the key (unless the volume's is the
// service's), the CPU limit for the exclusivity check, and the user's extra variables.
func podEnv(ps *v1alpha1.PoetService) []corev1.EnvVar {
	s := &ps.Spec
	var env []corev1.EnvVar
	if keyRef := KeyRef(ps); keyRef != nil {
		env = append(env, corev1.EnvVar{Name: KeyEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: keyRef}})
	}
	return append(append(env,
		// The kubelet removes the CFS quota of containers with exclusive CPUs (v1.33 on):
		// the poet learns its CPU limit from here to judge its cpuset. Divisor 1m keeps a
		// fractional limit visible (the default divisor 1 rounds it up).
		corev1.EnvVar{Name: cpuinfo.LimitEnv, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
			ContainerName: ContainerName, Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
	), s.ExtraEnv...)
}

// capabilities drops every capability, keeping only SYS_NICE when the prover runs under
// a real-time policy.
func capabilities(ps *v1alpha1.PoetService) *corev1.Capabilities {
	c := &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
	if ps.Spec.Prover.Scheduling != nil {
		c.Add = []corev1.Capability{"SYS_NICE"}
	}
	return c
}

// InputHash digests what a running pod must be restarted to pick up: the pod template
// and poet.conf. The trusted keys' content is not in it: the poet reloads them.
func InputHash(ps *v1alpha1.PoetService, o Options) string {
	return hashInputs(PodTemplate(ps, o), ConfigFile(ps))
}

// hashInputs digests a pod template (without the hash annotation) and poet.conf.
func hashInputs(pod corev1.PodTemplateSpec, config string) string {
	h := sha256.New()
	b, err := json.Marshal(pod)
	if err != nil {
		panic(fmt.Sprintf("encoding a pod template: %v", err)) // cannot fail for these types
	}
	h.Write(b)
	h.Write([]byte(config))
	return hex.EncodeToString(h.Sum(nil))[:16]
}
