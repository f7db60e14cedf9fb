package controllers

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kustomizeBuild renders a kustomization with the pinned kustomize (make test passes it).
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		t.Fatal("KUSTOMIZE is not set: run make test")
	}
	out, err := exec.Command(bin, "build", dir).Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

func serverSideApply(t *testing.T, objs []*unstructured.Unstructured) map[string]string {
	t.Helper()
	versions := map[string]string{}
	for _, o := range objs {
		u := o.DeepCopy()
		if err := k8s.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("gitops"), client.ForceOwnership); err != nil {
			t.Fatalf("applying %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		key := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
		// The generation where there is one (controllers write status, which moves
		// the resource version); the resource version for everything else.
		if g := u.GetGeneration(); g > 0 {
			versions[key] = "generation " + strconv.FormatInt(g, 10)
		} else {
			versions[key] = "version " + u.GetResourceVersion()
		}
	}
	return versions
}

// kubectl apply -k config/default and the samples are accepted by a real API server,
// and applying the same manifests again changes nothing (GitOps tools see no drift).
func TestKustomizeInstallIsIdempotent(t *testing.T) {
	objs := kustomizeBuild(t, "../config/default")
	samples := kustomizeBuild(t, "../config/samples")
	for _, s := range samples {
		s.SetNamespace(ns)
	}
	first := serverSideApply(t, append(objs, samples...))
	second := serverSideApply(t, append(objs, samples...))
	for k, v := range first {
		if second[k] != v {
			t.Errorf("%s changed on the second apply", k)
		}
	}
	if len(first) < 10 {
		t.Fatalf("only %d objects applied", len(first))
	}
}
