// Package specs builds the objects a PoetService owns. Every builder is a pure function
// of the PoetService and the operator's options, so it is tested without a cluster.
package specs

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
)

// Label and annotation keys.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"

	// AnnotationInputHash on the pod template digests everything that needs a restart.
	AnnotationInputHash = "poet.poet-operator.dev/input-hash"
)

// Options are the operator's own settings that builders need.
type Options struct {
	// DefaultImage is used when spec.image is empty.
	DefaultImage string
}

// SelectorLabels select a PoetService's pod.
func SelectorLabels(ps *v1alpha1.PoetService) map[string]string {
	return map[string]string{LabelName: "poet", LabelInstance: ps.Name}
}

// Labels are put on every object a PoetService owns.
func Labels(ps *v1alpha1.PoetService) map[string]string {
	l := SelectorLabels(ps)
	l[LabelManagedBy] = "poet-operator"
	l[LabelComponent] = "poet"
	return l
}

func meta(ps *v1alpha1.PoetService, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ps.Namespace, Labels: Labels(ps)}
}

// Names of owned objects.
func ConfigMapName(ps *v1alpha1.PoetService) string       { return ps.Name + "-config" }
func HeadlessServiceName(ps *v1alpha1.PoetService) string { return ps.Name + "-headless" }
func KeySecretName(ps *v1alpha1.PoetService) string       { return ps.Name + "-key" }

// Ports inside the pod.
const (
	RESTPort    = 8080
	GRPCPort    = 50002
	ConfigPort  = 50001
	DataPath    = "/data"
	ConfigPath  = "/etc/poet"
	TrustedPath = "/etc/poet-trusted-keys"
	KeyEnv      = "POET_PRIVATE_KEY"
)
