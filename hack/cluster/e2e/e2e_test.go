// Package e2e runs the operator and its PoET pods in a real one-node cluster
// (hack/cluster/cluster.sh): installed by `helm install` as the README says, PoetServices
// applied as YAML, a go-spacemesh-like client registering through the ClusterIP Service,
// and what clusters do to pods: SIGKILL, SIGTERM, spec changes, node reboots, kubelet
// policies, deletion and re-creation, helm upgrade and uninstall.
package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
	"github.com/poet-operator/poet-operator/poet/nodeclient"
)

const (
	operatorNS = "poet-operator-system"
	ns         = "e2e"
	// Short rounds: a round starts every 40 s and executes for 28 s.
	epoch, phaseShift, cycleGap = 40 * time.Second, 20 * time.Second, 12 * time.Second
	metricsPort                 = 9100
)

var (
	kubectlBin, helmBin, clusterSh string
	k                              *cluster
	genesis                        time.Time
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if testing.Short() {
		fmt.Println("e2e: -short: the real-cluster suite is skipped")
		return m.Run()
	}
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: the real-cluster suite needs root (a kubelet and a container runtime); run it as root or with -short")
		return 1
	}
	repo, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	clusterSh = filepath.Join(repo, "hack", "cluster", "cluster.sh")
	helmBin = os.Getenv("HELM")
	if helmBin == "" {
		fmt.Fprintln(os.Stderr, "e2e: set HELM to a helm binary (make e2e does)")
		return 1
	}
	assets, err := exec.Command(filepath.Join(repo, "hack", "envtest-assets.sh")).Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: envtest assets:", err)
		return 1
	}
	kubectlBin = filepath.Join(strings.TrimSpace(string(assets)), "kubectl")
	dir := os.Getenv("POET_CLUSTER_DIR")
	if dir == "" {
		dir = "/tmp/poet-operator-cluster"
		os.Setenv("POET_CLUSTER_DIR", dir)
	}

	owned := false
	kubeconfig, err := exec.Command(clusterSh, "kubeconfig").Output()
	if err != nil {
		fmt.Println("e2e: no cluster is up: starting one")
		up := exec.Command(clusterSh, "up")
		up.Stderr = os.Stderr
		if kubeconfig, err = up.Output(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: cluster up:", err)
			down()
			return 1
		}
		owned = true
	}
	k, err = newCluster(strings.TrimSpace(lastLine(string(kubeconfig))), dir, repo)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
	} else {
		code = m.Run()
	}
	if owned {
		// down checks that the machine is as it was; a leftover fails the suite.
		if err := down(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: cluster down left the machine changed:", err)
			code = 1
		}
	}
	return code
}

func down() error {
	d := exec.Command(clusterSh, "down")
	d.Stdout, d.Stderr = os.Stderr, os.Stderr
	return d.Run()
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}

// The suite is one ordered story in one cluster: each step builds on the one before.
func TestRealCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real cluster")
	}
	genesis = time.Now().Truncate(time.Second)
	resetCluster(t)
	steps := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"HelmInstall", testHelmInstall},
		{"PoetServiceRuns", testPoetServiceRuns},
		{"CPUExclusive", testCPUExclusive},
		{"RegisterThroughServiceAndProve", testRegisterAndProve},
		{"StatusMatchesPod", testStatusMatchesPod},
		{"SIGKILLMidRound", func(t *testing.T) { testInterruptMidRound(t, "kill") }},
		{"PodDeleteMidRound", func(t *testing.T) { testInterruptMidRound(t, "delete") }},
		{"SpecChangeWaitsForWindow", testSpecChangeWaitsForWindow},
		{"RestartNowAnnotation", testRestartNow},
		{"OperatorPodDeleted", testOperatorPodDeleted},
		{"NodeReboot", func(t *testing.T) { testInterruptMidRound(t, "reboot") }},
		{"CPUManagerNone", testCPUManagerNone},
		{"RetainDeleteRecreate", testRetainRecreate},
		{"CalibrationBeforeGenesis", testCalibration},
		{"DeletePolicy", testDeletePolicy},
		{"HelmUpgradeAndUninstall", testHelmUpgradeUninstall},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.f) {
			t.Fatalf("step %s failed; the later steps depend on it", s.name)
		}
	}
}

func testHelmInstall(t *testing.T) {
	// As the README's quick start: the chart from the repository, images by its appVersion.
	k.must(t, "", helmBin, "install", "poet-operator", "charts/poet-operator",
		"-n", operatorNS, "--create-namespace", "--kubeconfig", k.kubeconfig)
	k.eventually(t, operatorNS, 3*time.Minute, "the operator pod is Ready", func() error {
		var pods corev1.PodList
		if err := k.c.List(context.Background(), &pods, client.InNamespace(operatorNS), client.MatchingLabels{"app.kubernetes.io/name": "poet-operator"}); err != nil {
			return err
		}
		for i := range pods.Items {
			if podReady(&pods.Items[i]) {
				return nil
			}
		}
		return fmt.Errorf("%d operator pods, none Ready", len(pods.Items))
	})
	k.kubectl(t, "", "create", "namespace", ns)
}

// certifier is the certifier key the PoetService trusts.
var certPub, certPriv, _ = ed25519.GenerateKey(nil)

func poetServiceYAML(name, retention string, extraSpec string) string {
	return fmt.Sprintf(`apiVersion: poet.poet-operator.dev/v1alpha1
kind: PoetService
metadata:
  name: %s
  namespace: %s
spec:
  genesisTime: %q
  round: {epochDuration: %s, phaseShift: %s, cycleGap: %s}
  prover: {cpus: 1, lps: 60000, checkpointInterval: 2s}
  registration:
    powDifficulty: 6
    certifier: {url: "http://certifier.invalid", pubkey: %q}
  storage: {size: 1Gi, retentionPolicy: %s}
  resources: {memory: 1Gi}
%s`, name, ns, genesis.UTC().Format(time.RFC3339), epoch, phaseShift, cycleGap,
		base64.StdEncoding.EncodeToString(certPub), retention, extraSpec)
}

// waitCurrent waits for kstatus Current: Ready True at the current generation.
func waitCurrent(t *testing.T, name string, timeout time.Duration) *v1alpha1.PoetService {
	t.Helper()
	var ps *v1alpha1.PoetService
	k.eventually(t, ns, timeout, "PoetService "+name+" Current", func() error {
		ps = k.poetService(t, ns, name)
		c := condition(ps, v1alpha1.ConditionReady)
		if ps.Status.ObservedGeneration != ps.Generation || c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != ps.Generation {
			return fmt.Errorf("generation %d observed %d, Ready %v", ps.Generation, ps.Status.ObservedGeneration, c)
		}
		return nil
	})
	return ps
}

func testPoetServiceRuns(t *testing.T) {
	k.kubectl(t, poetServiceYAML("alpha", "Retain", ""), "apply", "-f", "-")
	waitCurrent(t, "alpha", 3*time.Minute)
	p, err := k.pod(ns, "alpha-0")
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("QoS %s, want Guaranteed", p.Status.QOSClass)
	}
	pid, err := containerPID(p, "poet")
	if err != nil {
		t.Fatal(err)
	}
	if uid := strings.Fields(statusField(fmt.Sprintf("/proc/%d/status", pid), "Uid")); len(uid) == 0 || uid[0] != "65532" || uid[1] != "65532" {
		t.Errorf("the poet runs as uid %v, want 65532", uid)
	}
	if gid := strings.Fields(statusField(fmt.Sprintf("/proc/%d/status", pid), "Gid")); len(gid) == 0 || gid[0] != "65532" {
		t.Errorf("the poet runs as gid %v, want 65532", gid)
	}
	if !rootReadOnly(t, pid) {
		t.Error("the container's root filesystem is writable")
	}
	var pvc corev1.PersistentVolumeClaim
	if err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "data-alpha-0"}, &pvc); err != nil || pvc.Status.Phase != corev1.ClaimBound {
		t.Errorf("claim data-alpha-0: %v %s", err, pvc.Status.Phase)
	}
}

// rootReadOnly reads the container's / mount from its mountinfo.
func rootReadOnly(t *testing.T, pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		f := strings.Fields(l)
		if len(f) > 5 && f[4] == "/" {
			return strings.Contains(","+f[5]+",", ",ro,")
		}
	}
	t.Fatal("no / in the container's mountinfo")
	return false
}

func testCPUExclusive(t *testing.T) {
	k.eventually(t, ns, time.Minute, "CPUExclusive True", func() error {
		c := condition(k.poetService(t, ns, "alpha"), v1alpha1.ConditionCPUExclusive)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("CPUExclusive %v", c)
		}
		return nil
	})
	p, _ := k.pod(ns, "alpha-0")
	want, err := k.cpuManagerAssignment(p, "poet")
	if err != nil {
		t.Fatal(err)
	}
	// The prover thread: its id in round.tid, written when a round executes.
	waitExecuting(t, "alpha")
	cpus := proverCPUs(t, "alpha")
	if cpus != want {
		t.Fatalf("the prover thread may run on %q; the kubelet gave the container %q", cpus, want)
	}
	t.Logf("prover thread on CPU %s, the container's exclusive set", cpus)
}

// proverCPUs is Cpus_allowed_list of the thread named in round.tid.
func proverCPUs(t *testing.T, name string) string {
	t.Helper()
	tidFile := filepath.Join(k.volumeDir(t, ns, "data-"+name+"-0"), "data", "round.tid")
	var cpus string
	k.eventually(t, ns, time.Minute, "the prover thread", func() error {
		raw, err := os.ReadFile(tidFile)
		if err != nil {
			return err
		}
		tid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			return fmt.Errorf("round.tid %q: %w", raw, err)
		}
		p, err := k.pod(ns, name+"-0")
		if err != nil {
			return err
		}
		pid, err := containerPID(p, "poet")
		if err != nil {
			return err
		}
		htid, err := hostTID(pid, tid)
		if err != nil {
			return err
		}
		cpus = statusField(fmt.Sprintf("/proc/%d/task/%d/status", pid, htid), "Cpus_allowed_list")
		if cpus == "" {
			return fmt.Errorf("no Cpus_allowed_list for thread %d", htid)
		}
		return nil
	})
	return cpus
}

func roundStart(n int64) time.Time { return genesis.Add(phaseShift + time.Duration(n)*epoch) }
func roundEnd(n int64) time.Time   { return roundStart(n).Add(epoch - cycleGap) }

// midRound waits, by the schedule, until a round has executed for a few seconds (past
// its first checkpoints) with at least minLeft of it to go, and returns that round. The
// PoetService's status lags; the schedule does not.
func midRound(t *testing.T, minLeft time.Duration) int64 {
	t.Helper()
	for n := int64(0); ; n++ {
		from, to := roundStart(n).Add(4*time.Second), roundEnd(n).Add(-minLeft)
		if time.Now().After(to) {
			continue
		}
		time.Sleep(time.Until(from))
		waitRoundExecuting(t, "alpha", n)
		return n
	}
}

// waitRoundExecuting waits until the PoetService reports round n executing with leaves.
func waitRoundExecuting(t *testing.T, name string, n int64) {
	t.Helper()
	k.eventually(t, ns, epoch, fmt.Sprintf("round %d executing", n), func() error {
		ps := k.poetService(t, ns, name)
		if ps.Status.ExecutingRound == nil || *ps.Status.ExecutingRound != n || ps.Status.Leaves == 0 {
			return fmt.Errorf("executing %v with %d leaves", ps.Status.ExecutingRound, ps.Status.Leaves)
		}
		return nil
	})
}

// waitExecuting waits until the PoetService reports a round executing and returns it.
func waitExecuting(t *testing.T, name string) int64 {
	t.Helper()
	var r int64
	k.eventually(t, ns, 2*epoch, "a round executing", func() error {
		ps := k.poetService(t, ns, name)
		if ps.Status.ExecutingRound == nil || ps.Status.Leaves == 0 {
			return fmt.Errorf("executing %v, leaves %d", ps.Status.ExecutingRound, ps.Status.Leaves)
		}
		r = *ps.Status.ExecutingRound
		return nil
	})
	return r
}

// node is a go-spacemesh-like client of the PoetService's ClusterIP Service.
func node(t *testing.T, name string) *nodeclient.Client {
	t.Helper()
	var svc corev1.Service
	if err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Fatalf("service %s has no cluster IP", name)
	}
	return &nodeclient.Client{Base: fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)}
}

type registered struct {
	round      string
	end        time.Time
	challenges [][]byte
}

// register registers n members on the PoW path and one with a certificate.
func register(t *testing.T, c *nodeclient.Client, n int) registered {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var reg registered
	deadline := time.Now().Add(24 * time.Hour)
	for i := 0; i <= n; i++ {
		id := nodeclient.NewIdentity()
		var err error
		var resp interface {
			GetRoundId() string
		}
		if i == n {
			r, e := c.SubmitCertificate(ctx, id, certPriv, deadline)
			resp, err = r, e
			if err == nil {
				reg.end = time.Now().Add(r.RoundEnd.AsDuration())
			}
		} else {
			resp, err = c.SubmitPoW(ctx, id, deadline)
		}
		if err != nil {
			t.Fatalf("registration %d: %v", i, err)
		}
		if reg.round == "" {
			reg.round = resp.GetRoundId()
		} else if reg.round != resp.GetRoundId() {
			// The open round moved on mid-batch: start over in the new one.
			return register(t, c, n)
		}
		reg.challenges = append(reg.challenges, id.Challenge)
	}
	return reg
}

// proveAll fetches the round's proof after its end and checks it holds every member.
func proveAll(t *testing.T, c *nodeclient.Client, reg registered) {
	t.Helper()
	time.Sleep(time.Until(reg.end))
	ctx, cancel := context.WithTimeout(context.Background(), 2*epoch)
	defer cancel()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Proof(ctx, reg.round, time.Second)
	if err != nil {
		k.dump(t, ns)
		t.Fatal(err)
	}
	if err := nodeclient.Validate(resp, info.ServicePubkey, reg.challenges); err != nil {
		t.Fatalf("round %s: %v", reg.round, err)
	}
	t.Logf("round %s: %d members, %d leaves, valid", reg.round, len(resp.Proof.Members), resp.Proof.Leaves)
}

func testRegisterAndProve(t *testing.T) {
	c := node(t, "alpha")
	proveAll(t, c, register(t, c, 5))
}

func testStatusMatchesPod(t *testing.T) {
	k.eventually(t, ns, 2*time.Minute, "status equals the pod's /status", func() error {
		ps := k.poetService(t, ns, "alpha")
		p, err := k.pod(ns, "alpha-0")
		if err != nil {
			return err
		}
		st, err := poetStatus(p, metricsPort)
		if err != nil {
			return err
		}
		var diffs []string
		if ps.Status.OpenRound == nil || uint64(*ps.Status.OpenRound) != st.OpenRound {
			diffs = append(diffs, fmt.Sprintf("openRound %v/%d", ps.Status.OpenRound, st.OpenRound))
		}
		if (ps.Status.ExecutingRound == nil) != (st.ExecutingRound == nil) ||
			(st.ExecutingRound != nil && uint64(*ps.Status.ExecutingRound) != *st.ExecutingRound) {
			diffs = append(diffs, "executingRound")
		}
		if uint64(ps.Status.Members) != st.Members {
			diffs = append(diffs, fmt.Sprintf("members %d/%d", ps.Status.Members, st.Members))
		}
		if st.LastProofRound == nil || ps.Status.LastProofRound == nil || uint64(*ps.Status.LastProofRound) != *st.LastProofRound {
			diffs = append(diffs, fmt.Sprintf("lastProofRound %v/%v", ps.Status.LastProofRound, st.LastProofRound))
		}
		// The rate moves between two reads; both must see the prover working.
		if st.ExecutingRound != nil && (ps.Status.LeavesPerSecond <= 0 || st.LeavesPerSecond <= 0) {
			diffs = append(diffs, fmt.Sprintf("leavesPerSecond %d/%.0f", ps.Status.LeavesPerSecond, st.LeavesPerSecond))
		}
		if len(diffs) > 0 {
			return fmt.Errorf("operator/pod differ: %s", strings.Join(diffs, ", "))
		}
		return nil
	})
}

// testInterruptMidRound registers members, waits for their round to execute past a
// checkpoint, interrupts the poet, and checks the round resumed from its checkpoint and
// every acknowledged member is in the valid proof.
func testInterruptMidRound(t *testing.T, how string) {
	c := node(t, "alpha")
	reg := register(t, c, 3)
	round, _ := strconv.ParseInt(reg.round, 10, 64)
	// Into the round, past its first checkpoints (every 2 s), far from its end.
	time.Sleep(time.Until(roundStart(round).Add(4 * time.Second)))
	if time.Until(roundEnd(round)) < 15*time.Second {
		t.Fatalf("registered for round %d too late to interrupt it mid-round", round)
	}
	waitRoundExecuting(t, "alpha", round)
	before, _ := k.pod(ns, "alpha-0")
	restarts := restartCount(before)
	switch how {
	case "kill":
		pid, err := containerPID(before, "poet")
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		k.eventually(t, ns, time.Minute, "the kubelet restarts the container", func() error {
			p, err := k.pod(ns, "alpha-0")
			if err != nil {
				return err
			}
			if p.UID != before.UID || restartCount(p) <= restarts || !podReady(p) {
				return fmt.Errorf("uid %s (was %s), restarts %d (was %d), ready %v", p.UID, before.UID, restartCount(p), restarts, podReady(p))
			}
			return nil
		})
	case "delete":
		k.kubectl(t, "", "delete", "pod", "alpha-0", "-n", ns, "--wait=false")
		k.eventually(t, ns, time.Minute, "the StatefulSet replaces the pod", func() error {
			p, err := k.pod(ns, "alpha-0")
			if err != nil {
				return err
			}
			if p.UID == before.UID || !podReady(p) {
				return fmt.Errorf("uid %s, ready %v", p.UID, podReady(p))
			}
			return nil
		})
	case "reboot":
		k.must(t, "", clusterSh, "restart-node")
		k.eventually(t, ns, 2*time.Minute, "the poet is back after the reboot", func() error {
			p, err := k.pod(ns, "alpha-0")
			if err != nil {
				return err
			}
			if !podReady(p) {
				return fmt.Errorf("not ready")
			}
			return nil
		})
	}
	k.eventually(t, ns, time.Minute, "the round resumed from its checkpoint", func() error {
		return resumedFromCheckpoint(t, how == "kill")
	})
	proveAll(t, c, reg)
}

var resumedRe = regexp.MustCompile(`round resumed.*leaves[=":]+(\d+)`)

// resumedFromCheckpoint finds the poet's "round resumed" line with a non-zero leaf count in
// the current container's log (or the restarted one's).
func resumedFromCheckpoint(t *testing.T, _ bool) error {
	out, err := k.run(t, "", kubectlBin, "logs", "alpha-0", "-c", "poet", "-n", ns)
	if err != nil {
		return fmt.Errorf("logs: %v: %s", err, out)
	}
	m := resumedRe.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("no 'round resumed' in the log")
	}
	if n, _ := strconv.ParseUint(m[1], 10, 64); n == 0 {
		return fmt.Errorf("resumed from 0 leaves: the checkpoint was lost")
	}
	return nil
}

func restartCount(p *corev1.Pod) int32 {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == "poet" {
			return cs.RestartCount
		}
	}
	return 0
}

// testSpecChangeWaitsForWindow: a spec change while a round executes sets RestartPending
// and leaves the pod alone until the safe window after the proof, then replaces it once.
func testSpecChangeWaitsForWindow(t *testing.T) {
	round := midRound(t, 20*time.Second)
	before, _ := k.pod(ns, "alpha-0")
	k.kubectl(t, "", "patch", "poetservice", "alpha", "-n", ns, "--type=merge", "-p", `{"spec":{"prover":{"treeFileBuffer":8192}}}`)
	k.eventually(t, ns, 30*time.Second, "RestartPending", func() error {
		c := condition(k.poetService(t, ns, "alpha"), v1alpha1.ConditionRestartPending)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("RestartPending %v", c)
		}
		return nil
	})
	// Watch the pod until it is replaced: never while the round executes, exactly once.
	var uids []types.UID
	var replacedAt, createdAt time.Time
	deadline := time.Now().Add(3 * epoch)
	for time.Now().Before(deadline) {
		p, err := k.pod(ns, "alpha-0")
		if err == nil && p.UID != before.UID && (len(uids) == 0 || uids[len(uids)-1] != p.UID) {
			uids = append(uids, p.UID)
			if replacedAt.IsZero() {
				replacedAt, createdAt = time.Now(), p.CreationTimestamp.Time
			}
		}
		if !replacedAt.IsZero() && time.Since(replacedAt) > epoch/2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(uids) != 1 {
		k.dump(t, ns)
		t.Fatalf("the pod was replaced %d times, want once", len(uids))
	}
	// It went down after the round's end and its proof: the proof exists and the new pod
	// was created (after the old one was deleted) no earlier than the round's end.
	if end := roundEnd(round); createdAt.Before(end.Truncate(time.Second)) {
		t.Fatalf("replaced at %s, before round %d ended at %s", createdAt.Format(time.RFC3339), round, end.Format(time.RFC3339Nano))
	}
	ctx, cancel := context.WithTimeout(context.Background(), epoch)
	defer cancel()
	if _, err := node(t, "alpha").Proof(ctx, strconv.FormatInt(round, 10), time.Second); err != nil {
		t.Fatalf("no proof of round %d: %v", round, err)
	}
	waitCurrent(t, "alpha", 2*time.Minute)
	if c := condition(k.poetService(t, ns, "alpha"), v1alpha1.ConditionRestartPending); c != nil && c.Status == metav1.ConditionTrue {
		t.Fatalf("RestartPending still true after the restart: %v", c)
	}
}

func testRestartNow(t *testing.T) {
	waitExecuting(t, "alpha")
	before, _ := k.pod(ns, "alpha-0")
	k.kubectl(t, "", "patch", "poetservice", "alpha", "-n", ns, "--type=merge", "-p",
		`{"metadata":{"annotations":{"`+v1alpha1.AnnotationRestartNow+`":"`+time.Now().UTC().Format(time.RFC3339)+`"}}}`)
	k.eventually(t, ns, 30*time.Second, "the pod replaced at once", func() error {
		p, err := k.pod(ns, "alpha-0")
		if err != nil {
			return ignoreNotFound(err)
		}
		if p.UID == before.UID {
			return fmt.Errorf("same pod")
		}
		return nil
	})
	waitCurrent(t, "alpha", 2*time.Minute)
}

func testOperatorPodDeleted(t *testing.T) {
	before, _ := k.pod(ns, "alpha-0")
	k.kubectl(t, "", "delete", "pod", "-n", operatorNS, "-l", "app.kubernetes.io/name=poet-operator", "--wait=true")
	k.eventually(t, operatorNS, 2*time.Minute, "a new operator pod Ready", func() error {
		var pods corev1.PodList
		if err := k.c.List(context.Background(), &pods, client.InNamespace(operatorNS), client.MatchingLabels{"app.kubernetes.io/name": "poet-operator"}); err != nil {
			return err
		}
		for i := range pods.Items {
			if podReady(&pods.Items[i]) && pods.Items[i].DeletionTimestamp == nil {
				return nil
			}
		}
		return fmt.Errorf("no Ready operator pod")
	})
	// Let the new operator reconcile a few times.
	time.Sleep(10 * time.Second)
	waitCurrent(t, "alpha", time.Minute)
	after, _ := k.pod(ns, "alpha-0")
	if after.UID != before.UID || restartCount(after) != restartCount(before) {
		t.Fatalf("the poet pod was restarted by a new operator: uid %s→%s, restarts %d→%d", before.UID, after.UID, restartCount(before), restartCount(after))
	}
}

func testCPUManagerNone(t *testing.T) {
	k.must(t, "", clusterSh, "restart-node", "none")
	k.eventually(t, ns, 3*time.Minute, "CPUExclusive False with the reason", func() error {
		c := condition(k.poetService(t, ns, "alpha"), v1alpha1.ConditionCPUExclusive)
		if c == nil || c.Status != metav1.ConditionFalse || c.Message == "" {
			return fmt.Errorf("CPUExclusive %v", c)
		}
		t.Logf("CPUExclusive False: %s: %s", c.Reason, c.Message)
		return nil
	})
	k.must(t, "", clusterSh, "restart-node", "static")
	k.eventually(t, ns, 3*time.Minute, "CPUExclusive True again", func() error {
		c := condition(k.poetService(t, ns, "alpha"), v1alpha1.ConditionCPUExclusive)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("CPUExclusive %v", c)
		}
		return nil
	})
}

func servicePubkey(t *testing.T, name string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var info []byte
	k.eventually(t, ns, 30*time.Second, "info of "+name, func() error {
		in, err := node(t, name).Info(ctx)
		if err != nil {
			return err
		}
		info = in.ServicePubkey
		return nil
	})
	return info
}

// Deleted under Retain and created again: the same claim, the same key, the data adopted.
func testRetainRecreate(t *testing.T) {
	key := servicePubkey(t, "alpha")
	var pvc corev1.PersistentVolumeClaim
	if err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "data-alpha-0"}, &pvc); err != nil {
		t.Fatal(err)
	}
	lastProof := k.poetService(t, ns, "alpha").Status.LastProofRound
	k.kubectl(t, "", "delete", "poetservice", "alpha", "-n", ns, "--wait=true")
	k.eventually(t, ns, 2*time.Minute, "the pod gone", func() error {
		if _, err := k.pod(ns, "alpha-0"); err == nil {
			return fmt.Errorf("pod alpha-0 still exists")
		}
		return nil
	})
	var still corev1.PersistentVolumeClaim
	if err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "data-alpha-0"}, &still); err != nil || still.UID != pvc.UID {
		t.Fatalf("the claim did not survive under Retain: %v", err)
	}
	k.kubectl(t, poetServiceYAML("alpha", "Retain", ""), "apply", "-f", "-")
	waitCurrent(t, "alpha", 3*time.Minute)
	if err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "data-alpha-0"}, &still); err != nil || still.UID != pvc.UID {
		t.Fatalf("a new claim: %v", err)
	}
	if got := servicePubkey(t, "alpha"); string(got) != string(key) {
		t.Fatalf("service key changed: %x → %x", key, got)
	}
	if lastProof != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := node(t, "alpha").Proof(ctx, strconv.FormatInt(*lastProof, 10), time.Second); err != nil {
			t.Fatalf("the proof of round %d from before: %v", *lastProof, err)
		}
	}
}

// testCalibration runs a PoetService with no lps and a genesis 90 s ahead: the poet
// calibrates its prover on its own CPU before the first round, and the operator records
// the rate, when and on which node. beta is then the subject of testDeletePolicy.
func testCalibration(t *testing.T) {
	// Only one CPU is allocatable: beta runs once alpha is gone.
	k.kubectl(t, "", "delete", "poetservice", "alpha", "-n", ns, "--wait=true")
	betaGenesis := time.Now().Add(90 * time.Second).Truncate(time.Second)
	k.kubectl(t, fmt.Sprintf(`apiVersion: poet.poet-operator.dev/v1alpha1
kind: PoetService
metadata: {name: beta, namespace: %s}
spec:
  genesisTime: %q
  round: {epochDuration: %s, phaseShift: %s, cycleGap: %s}
  prover: {cpus: 1, calibration: {duration: 15s}}
  storage: {size: 1Gi, retentionPolicy: Delete}
  resources: {memory: 1Gi}
`, ns, betaGenesis.UTC().Format(time.RFC3339), epoch, phaseShift, cycleGap), "apply", "-f", "-")
	waitCurrent(t, "beta", 3*time.Minute)
	var ps *v1alpha1.PoetService
	// The calibration ends 15 s after the poet starts; the operator polls /status.
	k.eventually(t, ns, 2*time.Minute, "beta's calibration in status.prover", func() error {
		ps = k.poetService(t, ns, "beta")
		if ps.Status.Prover == nil || ps.Status.Prover.LPSSource != "calibrated" {
			return fmt.Errorf("status.prover %+v", ps.Status.Prover)
		}
		return nil
	})
	pr := ps.Status.Prover
	p, err := k.pod(ns, "beta-0")
	if err != nil {
		t.Fatal(err)
	}
	if pr.MeasuredLPS <= 0 || pr.LPSInUse != pr.MeasuredLPS {
		t.Errorf("measuredLPS %d, lpsInUse %d: want the calibrated rate in use", pr.MeasuredLPS, pr.LPSInUse)
	}
	if pr.MeasuredOn == "" || pr.MeasuredOn != p.Spec.NodeName {
		t.Errorf("measuredOn %q, the pod runs on %q", pr.MeasuredOn, p.Spec.NodeName)
	}
	if pr.MeasuredAt == nil || !pr.MeasuredAt.Time.Before(betaGenesis.Add(phaseShift)) {
		t.Errorf("measuredAt %v: want before the first round starts at %v", pr.MeasuredAt, betaGenesis.Add(phaseShift))
	}
	t.Logf("calibrated on %s: %d leaves/s at %v", pr.MeasuredOn, pr.MeasuredLPS, pr.MeasuredAt)
}

func testDeletePolicy(t *testing.T) {
	k.kubectl(t, "", "delete", "poetservice", "beta", "-n", ns, "--wait=true")
	k.eventually(t, ns, 2*time.Minute, "claim and key of beta gone", func() error {
		var pvc corev1.PersistentVolumeClaim
		if err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "data-beta-0"}, &pvc); err == nil {
			return fmt.Errorf("claim data-beta-0 remains (deleting: %v)", pvc.DeletionTimestamp != nil)
		}
		var s corev1.Secret
		if err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "beta-key"}, &s); err == nil {
			return fmt.Errorf("secret beta-key remains")
		}
		return nil
	})
}

// helm upgrade to a new operator image restarts no poet mid-round; helm uninstall keeps the
// CRD, the PoetServices, their data and keys.
func testHelmUpgradeUninstall(t *testing.T) {
	k.kubectl(t, poetServiceYAML("gamma", "Retain", ""), "apply", "-f", "-")
	waitCurrent(t, "gamma", 3*time.Minute)
	c := node(t, "gamma")
	reg := register(t, c, 2)
	round, _ := strconv.ParseInt(reg.round, 10, 64)
	k.eventually(t, ns, 2*epoch, "round executing", func() error {
		ps := k.poetService(t, ns, "gamma")
		if ps.Status.ExecutingRound == nil || *ps.Status.ExecutingRound != round {
			return fmt.Errorf("executing %v", ps.Status.ExecutingRound)
		}
		return nil
	})
	before, _ := k.pod(ns, "gamma-0")

	// A second operator image, built from the repository with another version.
	imgDir := t.TempDir()
	build := exec.Command("go", "run", "./images", "--repo", k.repo, "--out", imgDir, "--only", "operator", "--version", "v0.1.1-e2e")
	build.Dir = filepath.Join(k.repo, "hack", "cluster")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the upgrade image: %v\n%s", err, out)
	}
	k.must(t, "", clusterSh, "import", filepath.Join(imgDir, "operator.tar"))
	k.must(t, "", helmBin, "upgrade", "poet-operator", "charts/poet-operator", "-n", operatorNS,
		"--set", "image.tag=v0.1.1-e2e", "--kubeconfig", k.kubeconfig, "--wait")
	var once sync.Once
	k.eventually(t, operatorNS, 2*time.Minute, "the upgraded operator Ready", func() error {
		var pods corev1.PodList
		if err := k.c.List(context.Background(), &pods, client.InNamespace(operatorNS), client.MatchingLabels{"app.kubernetes.io/name": "poet-operator"}); err != nil {
			return err
		}
		for _, p := range pods.Items {
			if podReady(&p) && p.DeletionTimestamp == nil && strings.HasSuffix(p.Spec.Containers[0].Image, ":v0.1.1-e2e") {
				once.Do(func() { t.Logf("operator now %s", p.Spec.Containers[0].Image) })
				return nil
			}
		}
		return fmt.Errorf("no Ready operator on the new image")
	})
	time.Sleep(10 * time.Second)
	after, _ := k.pod(ns, "gamma-0")
	if after.UID != before.UID || restartCount(after) != restartCount(before) {
		t.Fatalf("helm upgrade restarted the poet mid-round")
	}

	k.must(t, "", helmBin, "uninstall", "poet-operator", "-n", operatorNS, "--kubeconfig", k.kubeconfig, "--wait")
	k.kubectl(t, "", "get", "crd", "poetservices.poet.poet-operator.dev")
	ps := k.poetService(t, ns, "gamma")
	var pvc corev1.PersistentVolumeClaim
	if err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "data-gamma-0"}, &pvc); err != nil {
		t.Fatalf("claim after uninstall: %v", err)
	}
	var s corev1.Secret
	if err := k.c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "gamma-key"}, &s); err != nil {
		t.Fatalf("key after uninstall: %v", err)
	}
	// The poet itself keeps running and proving without its operator.
	proveAll(t, c, reg)
	_ = ps
}

// resetCluster removes what an earlier run on the same cluster left (the release, the
// namespace) and makes the harness's released volumes available again, emptied.
func resetCluster(t *testing.T) {
	k.run(t, "", helmBin, "uninstall", "poet-operator", "-n", operatorNS, "--kubeconfig", k.kubeconfig, "--wait", "--ignore-not-found")
	k.kubectl(t, "", "delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=3m")
	var pvs corev1.PersistentVolumeList
	if err := k.c.List(context.Background(), &pvs, client.MatchingLabels{"poet-operator.dev/test-volume": "true"}); err != nil {
		t.Fatal(err)
	}
	for i := range pvs.Items {
		pv := &pvs.Items[i]
		if pv.Status.Phase != corev1.VolumeReleased || pv.Spec.HostPath == nil {
			continue
		}
		entries, _ := os.ReadDir(pv.Spec.HostPath.Path)
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(pv.Spec.HostPath.Path, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
		k.kubectl(t, "", "patch", "pv", pv.Name, "--type=json", "-p", `[{"op":"remove","path":"/spec/claimRef"}]`)
	}
}
