package specs

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
)

// ServiceMonitorGVK is prometheus-operator's ServiceMonitor; the operator creates one
// only where that CRD is installed, so it needs no Go dependency on it.
var ServiceMonitorGVK = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}

// LabelService tells the client Service from the headless one, so that scrapes select
// exactly one of them.
const LabelService = "poet.poet-operator.dev/service"

// ServiceMonitor scrapes the poet's ops port through the client Service.
func ServiceMonitor(ps *v1alpha1.PoetService) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(ServiceMonitorGVK)
	u.SetName(ps.Name)
	u.SetNamespace(ps.Namespace)
	u.SetLabels(Labels(ps))
	selector := map[string]any{}
	for k, v := range SelectorLabels(ps) {
		selector[k] = v
	}
	selector[LabelService] = "client"
	u.Object["spec"] = map[string]any{
		"selector":  map[string]any{"matchLabels": selector},
		"endpoints": []any{map[string]any{"port": "metrics", "path": "/metrics", "interval": "30s"}},
	}
	return u
}
