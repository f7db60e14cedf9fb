package specs

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
	"github.com/poet-operator/poet-operator/poet/config"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var opts = Options{DefaultImage: "ghcr.io/poet-operator/poet:v0.0.0-test"}

// withDefaults fills what the API server's defaulting markers would.

func fixtures() map[string]*v1alpha1.PoetService {
	mainnet := withDefaults(&v1alpha1.PoetService{
		ObjectMeta: metav1.ObjectMeta{Name: "mainnet", Namespace: "poet"},
		Spec: v1alpha1.PoetServiceSpec{
			GenesisTime: metav1.NewTime(time.Date(2023, 7, 14, 8, 0, 0, 0, time.UTC)),
			Round: v1alpha1.RoundSpec{
				EpochDuration: metav1.Duration{Duration: 336 * time.Hour},
				PhaseShift:    metav1.Duration{Duration: 240 * time.Hour},
				CycleGap:      metav1.Duration{Duration: 12 * time.Hour},
			},
			Prover:       v1alpha1.ProverSpec{CPUs: 1, LPS: 65000, Scheduling: &v1alpha1.ProverScheduling{Policy: "FIFO", Priority: 50}},
			Registration: v1alpha1.RegistrationSpec{PowDifficulty: 20},
			Storage:      v1alpha1.StorageSpec{Size: resource.MustParse("1Ti"), StorageClassName: ptr.To("local-nvme")},
			Resources:    v1alpha1.ResourcesSpec{Memory: resource.MustParse("8Gi"), ExtraCPUs: 1},
			Scheduling: v1alpha1.SchedulingSpec{
				NodeSelector: map[string]string{"poet.poet-operator.dev/static-cpu": "true"},
				Tolerations:  []corev1.Toleration{{Key: "dedicated", Value: "poet", Effect: corev1.TaintEffectNoSchedule}},
			},
			Service: v1alpha1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Port: 80, LoadBalancerClass: ptr.To("lb.example/class")},
		},
	})
	dev := withDefaults(&v1alpha1.PoetService{
		ObjectMeta: metav1.ObjectMeta{Name: "dev", Namespace: "default"},
		Spec: v1alpha1.PoetServiceSpec{
			Image:       "example.org/poet:dev",
			GenesisTime: metav1.NewTime(time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)),
			Round: v1alpha1.RoundSpec{
				EpochDuration: metav1.Duration{Duration: 24 * time.Second},
				PhaseShift:    metav1.Duration{Duration: 12 * time.Second},
				CycleGap:      metav1.Duration{Duration: 6 * time.Second},
			},
			Registration: v1alpha1.RegistrationSpec{
				MaxRoundMembers: ptr.To[int64](1000),
				Certifier:       &v1alpha1.CertifierSpec{URL: "http://certifier", Pubkey: "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="},
				TrustedKeys:     &v1alpha1.TrustedKeysSource{ConfigMap: &corev1.LocalObjectReference{Name: "certifiers"}},
			},
			ServiceKeySecretRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "my-key"}, Key: "key"},
			Storage:             v1alpha1.StorageSpec{RetentionPolicy: v1alpha1.RetentionDelete},
			Service:             v1alpha1.ServiceSpec{GRPCPort: ptr.To[int32](9090)},
			ExtraArgs:           []string{"--debuglog"},
			ExtraEnv:            []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: "1GiB"}},
		},
	})
	return map[string]*v1alpha1.PoetService{"mainnet": mainnet, "dev": dev}
}

func render(t *testing.T, ps *v1alpha1.PoetService) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, obj := range []any{ConfigMap(ps), KeySecret(ps, []byte("a2V5")), HeadlessService(ps), ClientService(ps), PodDisruptionBudget(ps), StatefulSet(ps, opts)} {
		b, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	return out.Bytes()
}

func TestGolden(t *testing.T) {
	for name, ps := range fixtures() {
		t.Run(name, func(t *testing.T) {
			got := render(t, ps)
			path := filepath.Join("testdata", name+".golden.yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./controllers/specs -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from the builders' output; run go test ./controllers/specs -update and review the diff", path)
			}
		})
	}
}

// poet.conf is read by the poet's own configuration loader, with the spec's values.
func TestConfigFileLoadsInPoet(t *testing.T) {
	for name, ps := range fixtures() {
		path := filepath.Join(t.TempDir(), "poet.conf")
		os.WriteFile(path, []byte(ConfigFile(ps)), 0o600)
		cfg, err := config.Load([]string{"--configfile", path}, func(string) string { return "" })
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, ConfigFile(ps))
		}
		s := ps.Spec
		if !cfg.Genesis.Time().Equal(s.GenesisTime.Time) || cfg.Round.EpochDuration != s.Round.EpochDuration.Duration ||
			cfg.Round.PhaseShift != s.Round.PhaseShift.Duration || cfg.Round.CycleGap != s.Round.CycleGap.Duration ||
			cfg.Service.LPSGiven != (s.Prover.LPS > 0) || (s.Prover.LPS > 0 && cfg.Service.EstimatedLeavesPerSecond != uint64(s.Prover.LPS)) ||
			cfg.DataDir != "/data/data" ||
			cfg.MetricsPort == nil || int32(*cfg.MetricsPort) != s.Metrics.Port || cfg.RawRESTListener != "0.0.0.0:8080" {
			t.Fatalf("%s: loaded %+v", name, cfg)
		}
		if c := s.Registration.Certifier; c != nil && (cfg.Registration.Certifier.URL != c.URL || cfg.Registration.Certifier.TrustedKeysDirPath != TrustedPath) {
			t.Fatalf("%s: certifier %+v", name, cfg.Registration.Certifier)
		}
	}
}

func TestPodIsGuaranteedAndRestricted(t *testing.T) {
	ps := fixtures()["mainnet"]
	sts := StatefulSet(ps, opts)
	c := sts.Spec.Template.Spec.Containers[0]
	cpu := c.Resources.Requests[corev1.ResourceCPU]
	if !cpu.Equal(c.Resources.Limits[corev1.ResourceCPU]) || cpu.Value() != 2 || cpu.MilliValue() != 2000 {
		t.Fatalf("cpu requests %v limits %v", c.Resources.Requests, c.Resources.Limits)
	}
	mem := c.Resources.Requests[corev1.ResourceMemory]
	if !mem.Equal(c.Resources.Limits[corev1.ResourceMemory]) {
		t.Fatal("memory requests differ from limits")
	}
	sc := c.SecurityContext
	if !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot || sts.Spec.Template.Spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Fatal("security context is not restricted")
	}
	if sts.Spec.UpdateStrategy.Type != "OnDelete" || sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != "Retain" {
		t.Fatalf("update %v retention %v", sts.Spec.UpdateStrategy, sts.Spec.PersistentVolumeClaimRetentionPolicy)
	}
	if c.Image != opts.DefaultImage || fixtures()["dev"].Spec.Image != StatefulSet(fixtures()["dev"], opts).Spec.Template.Spec.Containers[0].Image {
		t.Fatal("image defaulting")
	}
	if ps.Spec.Image != "" {
		t.Fatal("a builder wrote into the spec")
	}
}

func TestInputHash(t *testing.T) {
	base := fixtures()["dev"]
	h := InputHash(base, opts)
	if h != InputHash(fixtures()["dev"], opts) || h != StatefulSet(base, opts).Spec.Template.Annotations[AnnotationInputHash] {
		t.Fatal("hash is not stable")
	}
	for name, change := range map[string]func(*v1alpha1.PoetService){
		"image":     func(p *v1alpha1.PoetService) { p.Spec.Image = "example.org/poet:v2" },
		"lps":       func(p *v1alpha1.PoetService) { p.Spec.Prover.LPS++ },
		"pow":       func(p *v1alpha1.PoetService) { p.Spec.Registration.PowDifficulty = 8 },
		"memory":    func(p *v1alpha1.PoetService) { p.Spec.Resources.Memory = resource.MustParse("3Gi") },
		"extraArgs": func(p *v1alpha1.PoetService) { p.Spec.ExtraArgs = nil },
	} {
		p := fixtures()["dev"]
		change(p)
		if InputHash(p, opts) == h {
			t.Errorf("%s: hash unchanged", name)
		}
	}
	// Service exposure and trusted-key contents never restart the pod.
	p := fixtures()["dev"]
	p.Spec.Service.Type = corev1.ServiceTypeNodePort
	p.Spec.Service.Annotations = map[string]string{"a": "b"}
	if InputHash(p, opts) != h {
		t.Error("a Service change would restart the pod")
	}
	if !strings.Contains(ConfigFile(base), "trusted-pub-keys-dir-path = /etc/poet-trusted-keys") {
		t.Error("trusted keys directory not configured")
	}
}

// spec.prover.scheduling adds exactly SYS_NICE, and only when asked, and passes the policy.
func TestProverSchedulingCapability(t *testing.T) {
	for name, ps := range fixtures() {
		c := PodTemplate(ps, opts).Spec.Containers[0].SecurityContext.Capabilities
		conf := ConfigFile(ps)
		if len(c.Drop) != 1 || c.Drop[0] != "ALL" {
			t.Errorf("%s: drops %v", name, c.Drop)
		}
		if ps.Spec.Prover.Scheduling == nil {
			if len(c.Add) != 0 || strings.Contains(conf, "prover-sched") {
				t.Errorf("%s: adds %v without scheduling:\n%s", name, c.Add, conf)
			}
			continue
		}
		if len(c.Add) != 1 || c.Add[0] != "SYS_NICE" || !strings.Contains(conf, "prover-sched = fifo\n") || !strings.Contains(conf, "prover-priority = 50\n") {
			t.Errorf("%s: adds %v:\n%s", name, c.Add, conf)
		}
	}
}

// An existing claim is mounted as the data volume; the StatefulSet owns no claim, and
// the key is the volume's unless a Secret is named.
func TestExistingClaim(t *testing.T) {
	ps := fixtures()["dev"]
	ps.Spec.ServiceKeySecretRef = nil
	ps.Spec.Storage.ExistingClaim = "reference-poet"
	sts := StatefulSet(ps, opts)
	if len(sts.Spec.VolumeClaimTemplates) != 0 {
		t.Fatalf("claim templates %v with an existing claim", sts.Spec.VolumeClaimTemplates)
	}
	if ClaimName(ps) != "reference-poet" || GeneratesKey(ps) {
		t.Fatalf("claim %q, generates a key %v", ClaimName(ps), GeneratesKey(ps))
	}
	pod := sts.Spec.Template.Spec
	var mounted bool
	for _, v := range pod.Volumes {
		if v.PersistentVolumeClaim != nil {
			if v.PersistentVolumeClaim.ClaimName != "reference-poet" || v.Name != pod.Containers[0].VolumeMounts[0].Name ||
				pod.Containers[0].VolumeMounts[0].MountPath != DataPath {
				t.Fatalf("volume %+v mounts %+v", v, pod.Containers[0].VolumeMounts)
			}
			mounted = true
		}
	}
	if !mounted {
		t.Fatalf("no claim among the volumes %+v", pod.Volumes)
	}
	for _, e := range pod.Containers[0].Env {
		if e.Name == KeyEnv {
			t.Fatalf("%s set from %+v: the volume's key must win", KeyEnv, e.ValueFrom)
		}
	}

	ps.Spec.ServiceKeySecretRef = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "mine"}, Key: "k"}
	env := StatefulSet(ps, opts).Spec.Template.Spec.Containers[0].Env
	if env[0].Name != KeyEnv || env[0].ValueFrom.SecretKeyRef.Name != "mine" || GeneratesKey(ps) {
		t.Fatalf("with serviceKeySecretRef: env %+v", env)
	}

	own := fixtures()["dev"]
	own.Spec.ServiceKeySecretRef = nil
	if ClaimName(own) != "data-"+own.Name+"-0" || !GeneratesKey(own) || len(StatefulSet(own, opts).Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("own volume: claim %q generates %v", ClaimName(own), GeneratesKey(own))
	}
}
