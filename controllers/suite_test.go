package controllers

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
	"github.com/poet-operator/poet-operator/controllers/specs"
	"github.com/poet-operator/poet-operator/poet/status"
)

// One control plane for the package: a real kube-apiserver and etcd (envtest) plus a
// real kube-controller-manager, so StatefulSets create Pods and PVCs and garbage
// collection runs. There is no kubelet: tests mark pods ready themselves, and pod
// status comes from an injected reader (a real poet process where a test needs one).
var (
	cfg        *rest.Config
	k8s        client.Client
	scheme     = runtime.NewScheme()
	clock      = testingclock.NewFakePassiveClock(time.Time{}) // read through reconcilerNow
	statusRead = &fakeStatus{byName: map[string]statusFunc{}}
	testEnv    *envtest.Environment
)

// reconcilerNow is the reconciler's clock: the time a test set on clock, or the real
// time while clock is at zero (where it starts, and where clock.SetTime(time.Time{})
// puts it back).
func reconcilerNow() time.Time {
	if t := clock.Now(); !t.IsZero() {
		return t
	}
	return time.Now()
}

type statusFunc func(ctx context.Context) (*status.Status, error)

// fakeStatus routes each PoetService's status read to what its test set up.
type fakeStatus struct {
	mu     sync.Mutex
	byName map[string]statusFunc
}

func (f *fakeStatus) set(name string, fn statusFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byName[name] = fn
}

func (f *fakeStatus) read(ctx context.Context, ps *v1alpha1.PoetService, _ *corev1.Pod) (*status.Status, error) {
	f.mu.Lock()
	fn := f.byName[ps.Name]
	f.mu.Unlock()
	if fn == nil {
		return nil, errUnreachable
	}
	return fn(ctx)
}

type unreachable struct{}

func (unreachable) Error() string { return "no status reader for this PoetService" }

var errUnreachable = unreachable{}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		// The pure tests (the restart window, status computation) run alone; the suites
		// that need the control plane, helm or kustomize skip (needControlPlane).
		return m.Run()
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		out, err := exec.Command("../hack/envtest-assets.sh").Output()
		if err != nil {
			println("building the envtest control plane (hack/envtest-assets.sh):", err.Error())
			return 1
		}
		os.Setenv("KUBEBUILDER_ASSETS", string(trimNewline(out)))
	}
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases"), filepath.Join("testdata", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if cfg, err = env.Start(); err != nil {
		println("starting envtest:", err.Error())
		return 1
	}
	defer env.Stop()
	testEnv = env
	stopKCM, err := startControllerManager(env)
	if err != nil {
		println("starting kube-controller-manager:", err.Error())
		return 1
	}
	defer stopKCM()
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		println(err.Error())
		return 1
	}
	// The in-process manager leaves the chart-test namespace to the real operator binary
	// that TestOperatorFromChartArgs starts.
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}, "poet-system": {}}}})
	if err != nil {
		println(err.Error())
		return 1
	}
	r := &PoetServiceReconciler{
		Client: mgr.GetClient(), Scheme: scheme, Recorder: mgr.GetEventRecorderFor("poet-operator"),
		Options: specs.Options{DefaultImage: "ghcr.io/poet-operator/poet:test"}, ReadStatus: statusRead.read, Now: reconcilerNow,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		println(err.Error())
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if err := mgr.Start(ctx); err != nil {
			println("manager:", err.Error())
		}
	}()
	return m.Run()
}

// needControlPlane skips a test under -short, where TestMain starts no control plane:
// the envtest suites (the reconciler, the CRD's validation, the installs from config/
// and charts/) need kube-apiserver, etcd, kube-controller-manager, helm and kustomize.
func needControlPlane(t *testing.T) {
	t.Helper()
	if k8s == nil {
		t.Skip("needs the envtest control plane, helm and kustomize (not started with -short)")
	}
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// startControllerManager runs the real kube-controller-manager against envtest's API
// server with an admin kubeconfig.
func startControllerManager(env *envtest.Environment) (func(), error) {
	user, err := env.AddUser(envtest.User{Name: "kcm", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kcm")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kube-controller-manager"),
		"--kubeconfig="+path, "--leader-elect=false", "--secure-port=0", "--controllers=*",
		"--use-service-account-credentials=false", "--concurrent-statefulset-syncs=5", "-v=0")
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}, nil
}
