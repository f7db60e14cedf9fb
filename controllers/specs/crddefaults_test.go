package specs

import (
	"encoding/json"
	"os"
	"path/filepath"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
)

// crdSchema is the PoetService's OpenAPI schema from the generated CRD.
var crdSchema = func() *apiextensionsv1.JSONSchemaProps {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "poet.poet-operator.dev_poetservices.yaml"))
	if err != nil {
		panic(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		panic(err)
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema
}()

// withDefaults applies the CRD's own defaults, as the API server does on create (a
// missing property with a default gets it, then defaulting goes on inside it), so the
// builders' tests see exactly the values the API server would have set, from the one
// place they are defined: the markers.
func withDefaults(ps *v1alpha1.PoetService) *v1alpha1.PoetService {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ps)
	if err != nil {
		panic(err)
	}
	applyDefaults(u, crdSchema)
	out := &v1alpha1.PoetService{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u, out); err != nil {
		panic(err)
	}
	return out
}

func applyDefaults(obj map[string]any, s *apiextensionsv1.JSONSchemaProps) {
	for name, prop := range s.Properties {
		if _, ok := obj[name]; !ok && prop.Default != nil {
			var v any
			if err := json.Unmarshal(prop.Default.Raw, &v); err != nil {
				panic(err)
			}
			obj[name] = v
		}
		switch v := obj[name].(type) {
		case map[string]any:
			applyDefaults(v, &prop)
		case []any:
			if prop.Items != nil && prop.Items.Schema != nil {
				for _, item := range v {
					if m, ok := item.(map[string]any); ok {
						applyDefaults(m, prop.Items.Schema)
					}
				}
			}
		}
	}
}
