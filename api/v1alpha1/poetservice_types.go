package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PoetServiceSpec is the desired PoET service: its network timing, prover, registration
// rules, storage, placement and exposure.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.genesisTime) || self.genesisTime == oldSelf.genesisTime",message="genesisTime is immutable: it defines the network"
// +kubebuilder:validation:XValidation:rule="self.metrics.port != self.service.port && (!has(self.service.grpcPort) || self.metrics.port != self.service.grpcPort)",message="metrics.port must differ from service.port and service.grpcPort: the client Service carries all three"
// +kubebuilder:validation:XValidation:rule="!has(self.rollout.registrationMargin) && !has(self.rollout.proofGrace) || (has(self.rollout.registrationMargin) ? duration(self.rollout.registrationMargin).getMilliseconds() : duration(self.round.cycleGap).getMilliseconds() / 4) + (has(self.rollout.proofGrace) ? duration(self.rollout.proofGrace).getMilliseconds() : duration(self.round.cycleGap).getMilliseconds() / 4) < duration(self.round.cycleGap).getMilliseconds()",message="rollout.registrationMargin plus rollout.proofGrace (each a quarter of round.cycleGap when unset) must be shorter than round.cycleGap, or no restart window is left"
type PoetServiceSpec struct {
	// Image is the poet container image. Empty means the operator's --poet-image.
	// +optional
	// +kubebuilder:validation:Pattern=`^\S*$`
	Image string `json:"image,omitempty"`
	// ImagePullPolicy of the poet container.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// ImagePullSecrets for the poet image.
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// GenesisTime is the network's genesis, RFC 3339 (e.g. 2023-07-14T08:00:00Z); rounds
	// are counted from it. From 1970 to before 2262 (rounds are counted in 64-bit
	// nanoseconds). Immutable.
	// +required
	// +kubebuilder:validation:XValidation:rule="self >= timestamp('1970-01-01T00:00:00Z') && self < timestamp('2262-01-01T00:00:00Z')",message="genesisTime must be from 1970-01-01 to before 2262-01-01: rounds are counted in 64-bit nanoseconds"
	GenesisTime metav1.Time `json:"genesisTime"`
	// Round is the round schedule. Immutable: a node whose phase shift differs exits.
	// +required
	Round RoundSpec `json:"round"`

	// Prover configures the proof of sequential work.
	// +optional
	// +kubebuilder:default={}
	Prover ProverSpec `json:"prover,omitempty"`
	// Registration configures who may register and how.
	// +optional
	// +kubebuilder:default={}
	Registration RegistrationSpec `json:"registration,omitempty"`

	// ServiceKeySecretRef names a Secret key holding the service's ed25519 private key
	// (base64 of 64 bytes, as POET_PRIVATE_KEY). When absent the operator generates a
	// Secret once and never rewrites it; it follows storage.retentionPolicy.
	// +optional
	// +kubebuilder:validation:XValidation:rule="size(self.name) <= 253 && self.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="serviceKeySecretRef.name must be a Secret name (a DNS subdomain)"
	// +kubebuilder:validation:XValidation:rule="self.key.matches('^[-._a-zA-Z0-9]+$') && size(self.key) <= 253",message="serviceKeySecretRef.key must be a Secret key: letters, digits, '-', '_' and '.'"
	ServiceKeySecretRef *corev1.SecretKeySelector `json:"serviceKeySecretRef,omitempty"`

	// Storage is the persistent volume holding the tree, registrations and proofs.
	// +optional
	// +kubebuilder:default={}
	Storage StorageSpec `json:"storage,omitempty"`
	// Resources sizes the pod beyond the prover's CPUs.
	// +optional
	// +kubebuilder:default={}
	Resources ResourcesSpec `json:"resources,omitempty"`
	// Scheduling places the pod, e.g. on nodes with the static CPU manager.
	// +optional
	Scheduling SchedulingSpec `json:"scheduling,omitempty"`
	// Service exposes the API.
	// +optional
	// +kubebuilder:default={}
	Service ServiceSpec `json:"service,omitempty"`
	// Metrics configures the ops port (always on) and its ServiceMonitor.
	// +optional
	// +kubebuilder:default={}
	Metrics MetricsSpec `json:"metrics,omitempty"`
	// Rollout says when the operator may restart the pod.
	// +optional
	// +kubebuilder:default={}
	Rollout RolloutSpec `json:"rollout,omitempty"`

	// ExtraArgs are appended to the poet command line. Flags the operator sets from the
	// spec (genesis, round timing, directories, listeners, metrics port, config file) are
	// refused: the operator schedules restarts and probes by them.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="self.all(a, !a.matches('^--(configfile|genesis-time|poetdir|datadir|dbdir|logdir|rpclisten|restlisten|config-rpclisten|metrics-port|epoch-duration|phase-shift|cycle-gap)(=.*)?$') && !a.matches('^-[cbrw]'))",message="extraArgs must not set what the operator sets from the spec: --configfile, --genesis-time, --poetdir, --datadir, --dbdir, --logdir, --rpclisten, --restlisten, --config-rpclisten, --metrics-port, --epoch-duration, --phase-shift, --cycle-gap (or -c, -b, -r, -w)"
	ExtraArgs []string `json:"extraArgs,omitempty"`
	// ExtraEnv is added to the poet container's environment. POET_PRIVATE_KEY and
	// POET_CPU_LIMIT_MILLIS are the operator's (set the key with serviceKeySecretRef).
	// +optional
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:XValidation:rule="self.all(e, !(e.name in ['POET_PRIVATE_KEY', 'POET_CPU_LIMIT_MILLIS']))",message="extraEnv must not set POET_PRIVATE_KEY (use serviceKeySecretRef) or POET_CPU_LIMIT_MILLIS (the operator sets it from the CPU limit)"
	ExtraEnv []corev1.EnvVar `json:"extraEnv,omitempty"`
}

// RoundSpec is the round schedule: round n starts at genesis + phaseShift + n·epoch
// and ends cycleGap before the next one starts.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="round timing is immutable: it defines the network"
// +kubebuilder:validation:XValidation:rule="duration(self.phaseShift) < duration(self.epochDuration)",message="phaseShift must be shorter than epochDuration"
// +kubebuilder:validation:XValidation:rule="duration(self.cycleGap) < duration(self.epochDuration)",message="cycleGap must be shorter than epochDuration"
type RoundSpec struct {
	// EpochDuration is the time between round starts (mainnet: 336h).
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') && duration(self) > duration('0s')",message="epochDuration must be a positive duration such as 5s, 1h30m or 336h"
	EpochDuration metav1.Duration `json:"epochDuration"`
	// PhaseShift is the time from genesis to round 0's start (mainnet: 240h).
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') && duration(self) >= duration('0s')",message="phaseShift must be a duration such as 0s, 30m or 12h"
	PhaseShift metav1.Duration `json:"phaseShift"`
	// CycleGap is the time between a round's end and the next round's start (mainnet: 12h).
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') && duration(self) >= duration('0s')",message="cycleGap must be a duration such as 0s, 30m or 12h"
	CycleGap metav1.Duration `json:"cycleGap"`
}

// ProverSpec configures the proof of sequential work.
type ProverSpec struct {
	// LPS is the estimated leaves per second; it sizes the in-memory part of the tree.
	// When set it always wins; when not, the poet uses the rate it measured in its last
	// round, and 78000 before its first.
	// +optional
	// +kubebuilder:validation:Minimum=1
	LPS int64 `json:"lps,omitempty"`
	// MemoryLayers is the number of top tree layers kept in memory.
	// +optional
	// +kubebuilder:default=26
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=63
	MemoryLayers int32 `json:"memoryLayers,omitempty"`
	// TreeFileBuffer is the write buffer of each on-disk layer, in bytes.
	// +optional
	// +kubebuilder:default=4096
	// +kubebuilder:validation:Minimum=32
	TreeFileBuffer int32 `json:"treeFileBuffer,omitempty"`
	// CPUs is the number of whole CPUs for the prover; with requests equal to limits the
	// kubelet's static CPU manager gives them to the pod exclusively.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1024
	CPUs int32 `json:"cpus,omitempty"`
	// CheckpointInterval is the most prover work a crash can lose.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') && duration(self) > duration('0s')",message="checkpointInterval must be a positive duration such as 5s, 1h30m or 336h"
	CheckpointInterval metav1.Duration `json:"checkpointInterval,omitempty,omitzero"`
	// Calibration measures the prover before its first round, when lps is not set and
	// no round has measured it yet.
	// +optional
	// +kubebuilder:default={}
	Calibration ProverCalibration `json:"calibration,omitempty"`
	// Scheduling runs the prover thread under a real-time policy. Setting it adds exactly
	// one capability, SYS_NICE, to the container, which the Pod Security "baseline" and
	// "restricted" levels forbid: the namespace must allow "privileged". The poet refuses
	// to start when the capability does not reach it.
	// +optional
	Scheduling *ProverScheduling `json:"scheduling,omitempty"`
}

// ProverCalibration is a run of the prover on a throwaway tree, on the pod's own CPU, to
// learn its leaves/s before the first round sizes its in-memory layers by it.
type ProverCalibration struct {
	// Duration of the run; 0s disables it. It runs only where it ends 30 s before the
	// next round starts (before genesis, in the phase shift, or in a cycle gap long
	// enough), never during a round.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$')",message="calibration.duration must be a duration such as 10m, or 0s to disable"
	Duration *metav1.Duration `json:"duration,omitempty"`
}

// ProverScheduling is the prover thread's real-time scheduling policy.
type ProverScheduling struct {
	// Policy is SCHED_FIFO ("FIFO") or SCHED_RR ("RR").
	// +required
	// +kubebuilder:validation:Enum=FIFO;RR
	Policy string `json:"policy"`
	// Priority is the real-time priority, 1 (lowest) to 99.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=99
	Priority int32 `json:"priority,omitempty"`
}

// RegistrationSpec configures registration.
type RegistrationSpec struct {
	// PowDifficulty is the proof of work's leading zero bits (deprecated by certificates).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=256
	PowDifficulty int32 `json:"powDifficulty,omitempty"`
	// MaxRoundMembers caps a round's members; the poet's default is 2^32.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxRoundMembers *int64 `json:"maxRoundMembers,omitempty"`
	// Certifier is the certifier nodes get certificates from.
	// +optional
	Certifier *CertifierSpec `json:"certifier,omitempty"`
	// TrustedKeys is a ConfigMap or Secret of *.key entries, each a base64 ed25519
	// certifier key. It is mounted and reloaded by the poet without a restart.
	// +optional
	TrustedKeys *TrustedKeysSource `json:"trustedKeys,omitempty"`
}

// CertifierSpec is a certifier advertised to nodes.
type CertifierSpec struct {
	// URL of the certifier service: an absolute http or https URL.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHost() != ''",message="url must be an absolute http or https URL, e.g. https://certifier.example.com"
	URL string `json:"url"`
	// Pubkey is the certifier's ed25519 public key, standard base64 of 32 bytes.
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9+/]{43}=$`
	Pubkey string `json:"pubkey"`
}

// TrustedKeysSource is exactly one of a ConfigMap or a Secret.
// +kubebuilder:validation:XValidation:rule="has(self.configMap) != has(self.secret)",message="set exactly one of configMap and secret"
// +kubebuilder:validation:XValidation:rule="!has(self.configMap) || size(self.configMap.name) <= 253 && self.configMap.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="configMap.name must be a ConfigMap name (a DNS subdomain)"
// +kubebuilder:validation:XValidation:rule="!has(self.secret) || size(self.secret.name) <= 253 && self.secret.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="secret.name must be a Secret name (a DNS subdomain)"
type TrustedKeysSource struct {
	// ConfigMap holding *.key entries.
	// +optional
	ConfigMap *corev1.LocalObjectReference `json:"configMap,omitempty"`
	// Secret holding *.key entries.
	// +optional
	Secret *corev1.LocalObjectReference `json:"secret,omitempty"`
}

// RetentionPolicy says whether data outlives the PoetService.
// +kubebuilder:validation:Enum=Retain;Delete
type RetentionPolicy string

const (
	// RetentionRetain keeps the volume and the generated key after deletion.
	RetentionRetain RetentionPolicy = "Retain"
	// RetentionDelete deletes them with the PoetService.
	RetentionDelete RetentionPolicy = "Delete"
)

// StorageSpec is the data volume.
// +kubebuilder:validation:XValidation:rule="has(self.existingClaim) == has(oldSelf.existingClaim) && (!has(self.existingClaim) || self.existingClaim == oldSelf.existingClaim)",message="storage.existingClaim is immutable: the volume holds the service's key and rounds"
type StorageSpec struct {
	// Size of the volume; it can grow where the storage class allows expansion.
	// +optional
	// +kubebuilder:default="10Gi"
	// +kubebuilder:validation:XValidation:rule="isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0'))",message="size must be a positive quantity such as 10Gi"
	Size resource.Quantity `json:"size,omitempty,omitzero"`
	// StorageClassName of the volume; empty uses the cluster default.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="storageClassName must be a StorageClass name (a DNS subdomain)"
	// +kubebuilder:validation:MaxLength=253
	StorageClassName *string `json:"storageClassName,omitempty"`
	// RetentionPolicy for the volume and the generated key when the PoetService goes.
	// An existing claim is never deleted.
	// +optional
	// +kubebuilder:default=Retain
	RetentionPolicy RetentionPolicy `json:"retentionPolicy,omitempty"`
	// ExistingClaim names a PersistentVolumeClaim in the namespace to use as the volume
	// instead of creating one, e.g. a volume holding a reference poet's directory
	// (data/ and db/ at its root): its rounds, members and proofs are imported at start.
	// The key in the volume (data/state.bin) is then the service's identity: no key is
	// generated, and a serviceKeySecretRef must hold the same key or the poet refuses to
	// start (condition Ready=False, reason ServiceKeyMismatch). size and
	// storageClassName do not apply; the operator never resizes or deletes the claim.
	// Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="existingClaim must be a PersistentVolumeClaim name (a DNS subdomain)"
	ExistingClaim string `json:"existingClaim,omitempty"`
}

// ResourcesSpec sizes the pod. CPU requests equal limits (prover.cpus + extraCPUs whole
// CPUs) and so does memory, so the pod has Guaranteed QoS.
type ResourcesSpec struct {
	// Memory for the pod (requests = limits).
	// +optional
	// +kubebuilder:default="2Gi"
	// +kubebuilder:validation:XValidation:rule="isQuantity(string(self)) && quantity(string(self)).isGreaterThan(quantity('0'))",message="memory must be a positive quantity such as 2Gi"
	Memory resource.Quantity `json:"memory,omitempty,omitzero"`
	// ExtraCPUs are whole CPUs beyond the prover's, for registration and serving.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1024
	ExtraCPUs int32 `json:"extraCPUs,omitempty"`
}

// SchedulingSpec places the pod.
type SchedulingSpec struct {
	// NodeSelector, e.g. to target nodes with the static CPU manager.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !format.qualifiedName().validate(k).hasValue())",message="nodeSelector keys must be label keys such as poet.poet-operator.dev/static-cpu"
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations of the pod.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(t, !has(t.effect) || t.effect in ['', 'NoSchedule', 'PreferNoSchedule', 'NoExecute'])",message="a toleration's effect must be NoSchedule, PreferNoSchedule or NoExecute (or empty for all)"
	// +kubebuilder:validation:XValidation:rule="self.all(t, (has(t.key) && t.key != '') || (has(t.operator) && t.operator == 'Exists'))",message="a toleration without a key must have operator Exists"
	// +kubebuilder:validation:XValidation:rule="self.all(t, !has(t.operator) || t.operator != 'Exists' || !has(t.value) || t.value == '')",message="a toleration with operator Exists must have no value"
	// +kubebuilder:validation:XValidation:rule="self.all(t, !has(t.tolerationSeconds) || (has(t.effect) && t.effect == 'NoExecute'))",message="tolerationSeconds applies only to effect NoExecute"
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Affinity of the pod.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// PriorityClassName of the pod.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="priorityClassName must be a PriorityClass name (a DNS subdomain)"
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// ServiceSpec exposes the REST API (and optionally gRPC).
// +kubebuilder:validation:XValidation:rule="!has(self.grpcPort) || self.grpcPort != self.port",message="grpcPort must differ from port"
// +kubebuilder:validation:XValidation:rule="!has(self.loadBalancerClass) || self.type == 'LoadBalancer'",message="loadBalancerClass applies only to type LoadBalancer"
type ServiceSpec struct {
	// Type of the client Service.
	// +optional
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type corev1.ServiceType `json:"type,omitempty"`
	// Annotations of the client Service.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !format.qualifiedName().validate(k).hasValue())",message="annotation keys must be qualified names such as example.com/name"
	Annotations map[string]string `json:"annotations,omitempty"`
	// LoadBalancerClass of a LoadBalancer Service, a qualified name such as example.com/lb.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!format.qualifiedName().validate(self).hasValue()",message="loadBalancerClass must be a qualified name such as example.com/lb"
	// +kubebuilder:validation:MaxLength=317
	LoadBalancerClass *string `json:"loadBalancerClass,omitempty"`
	// Port the REST API is served on.
	// +optional
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
	// GRPCPort, when set, also exposes gRPC on the client Service.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	GRPCPort *int32 `json:"grpcPort,omitempty"`
}

// MetricsSpec configures the ops port.
type MetricsSpec struct {
	// Port of /metrics, /healthz, /readyz and /status. Not 8080, 50001 or 50002: the
	// poet container's REST, configuration and gRPC listeners.
	// +optional
	// +kubebuilder:default=9100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:validation:XValidation:rule="!(self in [8080, 50001, 50002])",message="port must not be 8080, 50001 or 50002: the poet container listens there for REST, configuration and gRPC"
	Port int32 `json:"port,omitempty"`
	// ServiceMonitor creates a prometheus-operator ServiceMonitor when its CRD exists.
	// +optional
	ServiceMonitor bool `json:"serviceMonitor,omitempty"`
}

// RolloutSpec says when the operator may delete the pod to apply a change: in the cycle
// gap, after the finished round's proof is served, and not within registrationMargin of
// the next round start, when nodes rush to register.
type RolloutSpec struct {
	// RegistrationMargin before the next round start in which no restart happens.
	// Default: a quarter of the cycle gap.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') && duration(self) >= duration('0s')",message="registrationMargin must be a duration such as 0s, 30m or 12h"
	RegistrationMargin *metav1.Duration `json:"registrationMargin,omitempty"`
	// ProofGrace after the round end to wait for the proof when status cannot be read.
	// Default: a quarter of the cycle gap.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') && duration(self) >= duration('0s')",message="proofGrace must be a duration such as 0s, 30m or 12h"
	ProofGrace *metav1.Duration `json:"proofGrace,omitempty"`
}

// PoetServiceStatus is what the operator and the pod report.
type PoetServiceStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Reconciling, Stalled (kstatus), RoundExecuting,
	// RestartPending, CPUExclusive.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// OpenRound is the round open for registration.
	// +optional
	OpenRound *int64 `json:"openRound,omitempty"`
	// ExecutingRound is the round whose proof runs, if any.
	// +optional
	ExecutingRound *int64 `json:"executingRound,omitempty"`
	// Members registered in the open round.
	// +optional
	Members int64 `json:"members,omitempty"`
	// Leaves of the executing round's tree.
	// +optional
	Leaves int64 `json:"leaves,omitempty"`
	// LeavesPerSecond of the prover over the last ten seconds.
	// +optional
	LeavesPerSecond int64 `json:"leavesPerSecond,omitempty"`
	// LastProofRound is the latest round with a published proof.
	// +optional
	LastProofRound *int64 `json:"lastProofRound,omitempty"`
	// NextRestartWindow is when a pending restart may happen.
	// +optional
	NextRestartWindow *metav1.Time `json:"nextRestartWindow,omitempty"`
	// Endpoint is the REST base URL inside the cluster.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// Prover is the rate that sizes the prover's tree and where it comes from.
	// +optional
	Prover *ProverStatus `json:"prover,omitempty"`
}

// ProverStatus is the leaves/s the poet uses and, when it measured it, when and where.
type ProverStatus struct {
	// LPSInUse sizes the executing (or next) round's in-memory layers.
	LPSInUse int64 `json:"lpsInUse,omitempty"`
	// LPSSource is "given" (spec.prover.lps), "measured" (the last round),
	// "calibrated" (spec.prover.calibration) or "default".
	LPSSource string `json:"lpsSource,omitempty"`
	// MeasuredLPS is the measured or calibrated rate in use.
	// +optional
	MeasuredLPS int64 `json:"measuredLPS,omitempty"`
	// MeasuredAt is when it was measured.
	// +optional
	MeasuredAt *metav1.Time `json:"measuredAt,omitempty"`
	// MeasuredOn is the node the pod ran on when the operator first saw the measurement.
	// +optional
	MeasuredOn string `json:"measuredOn,omitempty"`
}

// PoetService runs a PoET service: a StatefulSet of one pod with a persistent volume,
// exclusive CPUs for the prover, and restarts only between rounds.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=poet
// +kubebuilder:printcolumn:name="Open",type=integer,JSONPath=`.status.openRound`
// +kubebuilder:printcolumn:name="Executing",type=integer,JSONPath=`.status.executingRound`
// +kubebuilder:printcolumn:name="Leaves/s",type=integer,JSONPath=`.status.leavesPerSecond`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PoetService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec PoetServiceSpec `json:"spec"`
	// +optional
	Status PoetServiceStatus `json:"status,omitempty"`
}

// PoetServiceList is a list of PoetServices.
// +kubebuilder:object:root=true
type PoetServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PoetService `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PoetService{}, &PoetServiceList{})
}
