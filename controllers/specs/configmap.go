package specs

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
)

// ConfigFile renders poet.conf, in the INI format the poet (and the reference) reads.
func ConfigFile(ps *v1alpha1.PoetService) string {
	s := &ps.Spec
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, "%s = %v\n", k, v) }
	b.WriteString("[Application Options]\n")
	kv("genesis-time", s.GenesisTime.UTC().Format(time.RFC3339))
	kv("poetdir", DataPath)
	kv("datadir", DataPath+"/data")
	kv("dbdir", DataPath+"/db")
	kv("logdir", DataPath+"/logs")
	kv("rpclisten", fmt.Sprintf("0.0.0.0:%d", GRPCPort))
	kv("restlisten", fmt.Sprintf("0.0.0.0:%d", RESTPort))
	kv("config-rpclisten", fmt.Sprintf("127.0.0.1:%d", ConfigPort))
	kv("metrics-port", s.Metrics.Port)
	kv("jsonlog", true)
	b.WriteString("\n[Round]\n")
	kv("epoch-duration", s.Round.EpochDuration.Duration)
	kv("phase-shift", s.Round.PhaseShift.Duration)
	kv("cycle-gap", s.Round.CycleGap.Duration)
	b.WriteString("\n[Registration]\n")
	kv("pow-difficulty", s.Registration.PowDifficulty)
	if m := s.Registration.MaxRoundMembers; m != nil {
		kv("max-round-members", *m)
	}
	if c := s.Registration.Certifier; c != nil {
		kv("certifier-url", c.URL)
		kv("certifier-pubkey", c.Pubkey)
	}
	if s.Registration.TrustedKeys != nil {
		kv("trusted-pub-keys-dir-path", TrustedPath)
	}
	b.WriteString("\n[Service]\n")
	if s.Prover.LPS > 0 {
		kv("lps", s.Prover.LPS)
	}
	kv("memory", s.Prover.MemoryLayers)
	kv("tree-file-buffer", s.Prover.TreeFileBuffer)
	if c := s.Prover.Calibration.Duration; c != nil && c.Duration > 0 && s.Prover.LPS == 0 {
		kv("calibrate", c.Duration)
	}
	if d := s.Prover.CheckpointInterval.Duration; d > 0 {
		kv("checkpoint-interval", d)
	}
	if sc := s.Prover.Scheduling; sc != nil {
		kv("prover-sched", strings.ToLower(sc.Policy))
		kv("prover-priority", sc.Priority)
	}
	return b.String()
}

// ConfigMap holds poet.conf.
func ConfigMap(ps *v1alpha1.PoetService) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   typeMeta("v1", "ConfigMap"),
		ObjectMeta: meta(ps, ConfigMapName(ps)),
		Data:       map[string]string{"poet.conf": ConfigFile(ps)},
	}
}

// KeySecret holds a generated service key as POET_PRIVATE_KEY (base64 of 64 bytes).
func KeySecret(ps *v1alpha1.PoetService, key []byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   typeMeta("v1", "Secret"),
		ObjectMeta: meta(ps, KeySecretName(ps)),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{KeyEnv: key},
	}
}
