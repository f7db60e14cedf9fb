package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
	"github.com/poet-operator/poet-operator/poet/status"
)

// cluster is the real cluster the suite runs in.
type cluster struct {
	dir        string // the harness's state directory
	kubeconfig string
	repo       string
	c          client.Client
}

func newCluster(kubeconfig, dir, repo string) (*cluster, error) {
	ctrllog.SetLogger(logr.Discard()) // the suite reports through t.Log and the pods' logs
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return &cluster{dir: dir, kubeconfig: kubeconfig, repo: repo, c: c}, nil
}

// run runs a command with the cluster's kubeconfig and returns its combined output.
func (k *cluster) run(t testing.TB, stdin string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+k.kubeconfig, "POET_CLUSTER_DIR="+k.dir)
	cmd.Dir = k.repo
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (k *cluster) must(t testing.TB, stdin string, name string, args ...string) string {
	t.Helper()
	out, err := k.run(t, stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (k *cluster) kubectl(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	return k.must(t, stdin, kubectlBin, args...)
}

// eventually polls f until it returns nil or the timeout passes, then fails with f's last
// error and the state of the namespace's pods.
func (k *cluster) eventually(t testing.TB, ns string, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	k.dump(t, ns)
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

// dump prints the namespace's pods, events and logs: what a failure needs to be read.
func (k *cluster) dump(t testing.TB, ns string) {
	t.Helper()
	for _, args := range [][]string{
		{"get", "pods,pvc,statefulsets,poetservices", "-o", "wide", "-n", ns},
		{"get", "poetservices", "-o", "yaml", "-n", ns},
		{"get", "events", "--sort-by=.lastTimestamp", "-n", ns},
		{"logs", "--all-containers", "--prefix", "--tail=60", "-l", "app.kubernetes.io/name=poet", "-n", ns},
		{"logs", "--all-containers", "--prefix", "--previous", "--tail=30", "-l", "app.kubernetes.io/name=poet", "-n", ns},
		{"logs", "--tail=60", "-l", "app.kubernetes.io/name=poet-operator", "-n", operatorNS},
	} {
		out, _ := k.run(t, "", kubectlBin, args...)
		t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
	}
}

func (k *cluster) poetService(t testing.TB, ns, name string) *v1alpha1.PoetService {
	t.Helper()
	var ps v1alpha1.PoetService
	if err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &ps); err != nil {
		t.Fatalf("get PoetService %s/%s: %v", ns, name, err)
	}
	return &ps
}

func (k *cluster) pod(ns, name string) (*corev1.Pod, error) {
	var p corev1.Pod
	err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &p)
	return &p, err
}

func condition(ps *v1alpha1.PoetService, typ string) *metav1.Condition {
	return meta.FindStatusCondition(ps.Status.Conditions, typ)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// poetStatus reads the pod's /status directly on its IP, as a cross-check of what the
// in-cluster operator reports.
func poetStatus(p *corev1.Pod, port int32) (*status.Status, error) {
	if p.Status.PodIP == "" {
		return nil, fmt.Errorf("pod %s has no IP", p.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return status.Fetch(ctx, nil, fmt.Sprintf("http://%s:%d", p.Status.PodIP, port))
}

// containerPID is the host PID of the container's first process, found by its cgroup
// (cgroup v1 or v2) and its PID 1 in the container's namespace.
func containerPID(p *corev1.Pod, container string) (int, error) {
	var id string
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == container && cs.State.Running != nil {
			_, id, _ = strings.Cut(cs.ContainerID, "://")
		}
	}
	if id == "" {
		return 0, fmt.Errorf("container %s of %s is not running", container, p.Name)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range procs {
		cg, err := os.ReadFile(d + "/cgroup")
		if err != nil || !bytes.Contains(cg, []byte(id)) {
			continue
		}
		if nspid := statusField(d+"/status", "NSpid"); strings.HasSuffix(nspid, "\t1") || strings.HasSuffix(nspid, " 1") {
			return strconv.Atoi(filepath.Base(d))
		}
	}
	return 0, fmt.Errorf("no process of container %s", id)
}

// statusField is one field of a /proc/.../status file.
func statusField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// hostTID maps a thread id in the container's PID namespace to the host's.
func hostTID(pid int, nsTID int) (int, error) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, d := range tasks {
		f := strings.Fields(statusField(d+"/status", "NSpid"))
		if len(f) > 1 && f[len(f)-1] == strconv.Itoa(nsTID) {
			return strconv.Atoi(filepath.Base(d))
		}
	}
	return 0, fmt.Errorf("no thread %d in process %d", nsTID, pid)
}

// volumeDir is the host directory of the PoetService's bound claim (the harness's
// hostPath volumes).
func (k *cluster) volumeDir(t testing.TB, ns, claim string) string {
	t.Helper()
	var pvc corev1.PersistentVolumeClaim
	if err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: claim}, &pvc); err != nil {
		t.Fatalf("claim %s: %v", claim, err)
	}
	var pv corev1.PersistentVolume
	if err := k.c.Get(context.Background(), types.NamespacedName{Name: pvc.Spec.VolumeName}, &pv); err != nil {
		t.Fatalf("volume of %s: %v", claim, err)
	}
	if pv.Spec.HostPath == nil {
		t.Fatalf("volume %s is not a hostPath volume", pv.Name)
	}
	return pv.Spec.HostPath.Path
}

// cpuManagerAssignment is the kubelet's record of a container's exclusive CPUs.
func (k *cluster) cpuManagerAssignment(p *corev1.Pod, container string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(k.dir, "kubelet", "cpu_manager_state"))
	if err != nil {
		return "", err
	}
	var st struct {
		PolicyName string                       `json:"policyName"`
		Entries    map[string]map[string]string `json:"entries"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return "", err
	}
	if set := st.Entries[string(p.UID)][container]; set != "" {
		return set, nil
	}
	return "", fmt.Errorf("policy %s: no exclusive CPUs for %s/%s", st.PolicyName, p.Name, container)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
