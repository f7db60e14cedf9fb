package controllers

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
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
	needControlPlane(t)
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
	needControlPlane(t)
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

// The operator binary, started with the arguments the chart renders, reconciles the
// sample PoetService as far as a cluster without a kubelet allows, and kstatus (what Flux
// and Argo CD use) reads its health from the conditions alone.
func TestOperatorFromChartArgs(t *testing.T) {
	needControlPlane(t)
	ctx := context.Background()
	dir := t.TempDir()
	bin := filepath.Join(dir, "manager")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	var args []string
	for _, o := range decodeAll(t, helmTemplate(t)) {
		if o.GetKind() == "Deployment" {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			for _, a := range cs[0].(map[string]any)["args"].([]any) {
				args = append(args, a.(string))
			}
		}
	}
	if len(args) == 0 {
		t.Fatal("no manager arguments in the chart")
	}
	// Loopback ports instead of the in-cluster ones; out of a cluster the lease needs a
	// namespace; watch only this test's namespace (the suite's manager has the others).
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "--metrics-bind-address="):
			args[i] = "--metrics-bind-address=127.0.0.1:0"
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			args[i] = "--health-probe-bind-address=127.0.0.1:0"
		}
	}
	const chartNS = "chart-test"
	args = append(args, "--leader-election-namespace="+chartNS, "--namespaces="+chartNS)
	nsObj := &corev1.Namespace{}
	nsObj.Name = chartNS
	if err := k8s.Create(ctx, nsObj); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	user, err := testEnv.AddUser(envtest.User{Name: "operator", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, _ := user.KubeConfig()
	kcPath := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kcPath, kubeconfig, 0o600)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kcPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()

	sample := kustomizeBuild(t, "../config/samples")[1] // the fast development PoetService
	sample.SetNamespace(chartNS)
	if err := k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(sample), client.FieldOwner("gitops"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	eventually(t, "the sample's pod", func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: chartNS, Name: sample.GetName() + "-0"}, &pod)
	})
	markReady(t, &pod)
	eventually(t, "kstatus of the sample", func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(sample.GroupVersionKind())
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: chartNS, Name: sample.GetName()}, u); err != nil {
			return err
		}
		res, err := kstatus.Compute(u)
		if err != nil {
			return err
		}
		// Without a kubelet or cluster DNS the pod's /status is out of reach, so the
		// service is progressing, not failed, and says why.
		if res.Status != kstatus.InProgressStatus || !strings.Contains(res.Message, "status") {
			return fmt.Errorf("kstatus %s: %s\n%s", res.Status, res.Message, logs.String())
		}
		return nil
	})
	// With the status of a ready poet, the same object reads as Current.
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(sample.GroupVersionKind())
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: chartNS, Name: sample.GetName()}, u); err != nil {
		t.Fatal(err)
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		switch m["type"] {
		case "Ready":
			m["status"] = "True"
		case "Reconciling":
			m["status"] = "False"
		}
	}
	unstructured.SetNestedSlice(u.Object, conds, "status", "conditions")
	if res, err := kstatus.Compute(u); err != nil || res.Status != kstatus.CurrentStatus {
		t.Fatalf("a ready PoetService reads as %v (%v)", res, err)
	}
}

// One version everywhere: the Makefile's, the operator's default (which sets the
// default poet image tag), the chart's appVersion and the kustomize image tag.
func TestVersionsAgree(t *testing.T) {
	needControlPlane(t)
	read := func(path, pattern string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(pattern).FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no match for %s", path, pattern)
		}
		return string(m[1])
	}
	versions := map[string]string{
		"Makefile":                 read("../Makefile", `(?m)^VERSION\s+\?=\s+(\S+)`),
		"main.go":                  read("../main.go", `var version = "([^"]+)"`),
		"chart appVersion":         read("../charts/poet-operator/Chart.yaml", `(?m)^appVersion: "([^"]+)"`),
		"config/manager image tag": read("../config/manager/kustomization.yaml", `newTag: (\S+)`),
		"Dockerfile":               read("../Dockerfile", `ARG VERSION=(\S+)`),
	}
	for name, v := range versions {
		if v != versions["Makefile"] {
			t.Errorf("%s has version %s, the Makefile %s", name, v, versions["Makefile"])
		}
	}
}
