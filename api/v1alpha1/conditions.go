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
)

// AnnotationRestartNow forces an emergency restart of the pod outside the safe window.
const AnnotationRestartNow = "poet.poet-operator.dev/restart-now"
