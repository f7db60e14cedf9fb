package v1alpha1

// Condition types. Ready, Reconciling and Stalled follow kstatus, so Flux and Argo CD
// read health without custom code.
const (
	ConditionReady          = "Ready"
	ConditionReconciling    = "Reconciling"
	ConditionStalled        = "Stalled"
	ConditionRoundExecuting = "RoundExecuting"
	ConditionRestartPending = "RestartPending"
	ConditionCPUExclusive   = "CPUExclusive"
)

// Condition reasons (UpperCamel).
const (
	ReasonAvailable         = "Available"
	ReasonProgressing       = "Progressing"
	ReasonPodNotReady       = "PodNotReady"
	ReasonStatusUnreachable = "StatusUnreachable"
	ReasonExecuting         = "Executing"
	ReasonIdle              = "Idle"
	ReasonWaitingForWindow  = "WaitingForWindow"
	ReasonUpToDate          = "UpToDate"
	ReasonForcedRestart     = "ForcedRestart"
	ReasonExclusive         = "Exclusive"
	ReasonShared            = "Shared"
	ReasonVolumeChange      = "VolumeChangeRejected"
	ReasonReconcileError    = "ReconcileError"
	// ReasonServiceKeyMismatch: the poet refuses to start because its key differs from
	// the one in its data directory.
	ReasonServiceKeyMismatch = "ServiceKeyMismatch"
	// ReasonScheduleMismatch: the poet refuses to start because its data directory was
	// made under another genesis or round timing.
	ReasonScheduleMismatch = "ScheduleMismatch"
	// ReasonPoetExited: the poet container ended with an error; the message is its last words.
	ReasonPoetExited = "PoetExited"
	// ReasonClaimNotFound: spec.storage.existingClaim names no claim.
	ReasonClaimNotFound = "ExistingClaimNotFound"
)

// Reasons of events that are not conditions.
const (
	// ReasonKeyGenerated: the operator generated the service key Secret.
	ReasonKeyGenerated = "KeyGenerated"
	// ReasonVolumeExpansionRequested: the operator asked for a larger volume.
	ReasonVolumeExpansionRequested = "VolumeExpansionRequested"
	// ReasonRestarting: the operator replaced the pod in a safe window for a new spec.
	ReasonRestarting = "Restarting"
)

// AnnotationRestartNow forces an emergency restart of the pod outside the safe window.
const AnnotationRestartNow = "poet.poet-operator.dev/restart-now"
