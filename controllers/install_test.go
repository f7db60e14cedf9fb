package controllers

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var updateGolden = flag.Bool("update", false, "rewrite the rendered-chart golden files")

// helmTemplate renders the chart with the pinned helm (make test passes it); helm
// validates the values against values.schema.json.
func helmTemplate(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		t.Fatal("HELM is not set: run make test")
	}
	out, err := exec.Command(bin, append([]string{"template", "poet-operator", "../charts/poet-operator", "--namespace", "poet-system", "--include-crds"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, out)
	}
	return out
}

func decodeAll(t *testing.T, b []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
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

// The chart renders as the golden files say, with default and with full values; the
// rendering applies to a real API server and a second apply changes nothing.
func TestHelmChart(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{}
	ns.Name = "poet-system"
	if err := k8s.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"default": nil,
		"full":    {"-f", "testdata/chart-full-values.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			out := helmTemplate(t, args...)
			golden := filepath.Join("testdata", "chart-"+name+".golden.yaml")
			if *updateGolden {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil || !bytes.Equal(out, want) {
				t.Fatalf("the chart renders differently from %s (%v): run go test ./controllers -run TestHelmChart -update with HELM set, and review the diff", golden, err)
			}
			objs := decodeAll(t, out)
			first := serverSideApply(t, objs)
			second := serverSideApply(t, objs)
			for k, v := range first {
				if second[k] != v {
					t.Errorf("%s changed on the second apply", k)
				}
			}
		})
	}
	if _, err := exec.Command(os.Getenv("HELM"), "template", "x", "../charts/poet-operator", "--set", "replicaCount=0").CombinedOutput(); err == nil {
		t.Fatal("values.schema.json accepted replicaCount=0")
	}
}

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
	return decodeAll(t, out)
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
	objs := append(kustomizeBuild(t, "../config/default"), kustomizeBuild(t, "../config/prometheus")...)
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
