package controllers

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/poet-operator/poet-operator/api/v1alpha1"
	"github.com/poet-operator/poet-operator/controllers/specs"
	"github.com/poet-operator/poet-operator/poet/cpuinfo"
)

// validSpec is the smallest spec the API server accepts; each case of
// TestCRDRefusesUnusableSpecs merges its patch into it.
const validSpec = `
genesisTime: "2026-01-01T00:00:00Z"
round: {epochDuration: 1h, phaseShift: 10m, cycleGap: 12m}
`

// crdCase is a spec patch (merged into validSpec as a JSON merge patch) and the
// substring the API server's refusal must contain; want "" means it must be accepted.
type crdCase struct {
	name, patch, want string
}

// Every field of the PoetService spec that can hold a value the operator or the poet
// cannot use, refused by the real API server at create time (a dry run: nothing is
// stored, so the controller never sees these). The accepted cases keep the rules from
// refusing what works: edge values the poet takes.
func TestCRDRefusesUnusableSpecs(t *testing.T) {
	needControlPlane(t)
	cases := []crdCase{
		{"the base spec", ``, ""},

		{"genesis without a zone", `genesisTime: "2026-01-01T00:00:00"`, "spec.genesisTime"},
		{"genesis as a date", `genesisTime: "2026-01-01"`, "spec.genesisTime"},
		{"genesis before 1970", `genesisTime: "1969-12-31T23:59:59Z"`, "genesisTime must be from 1970-01-01 to before 2262-01-01"},
		{"genesis in 2262", `genesisTime: "2262-01-01T00:00:00Z"`, "genesisTime must be from 1970-01-01 to before 2262-01-01"},
		{"genesis with an offset and fraction", `genesisTime: "2026-01-01T02:00:00.5+02:00"`, ""},

		{"epoch zero", `round: {epochDuration: 0s}`, "epochDuration must be a positive duration"},
		{"epoch negative", `round: {epochDuration: -1h}`, "epochDuration must be a positive duration"},
		{"epoch in days", `round: {epochDuration: 14d}`, "epochDuration must be a positive duration"},
		{"epoch unparseable", `round: {epochDuration: "1 hour"}`, "epochDuration must be a positive duration"},
		{"epoch without a unit", `round: {epochDuration: "3600"}`, "epochDuration must be a positive duration"},
		{"epoch overflowing 64-bit nanoseconds", `round: {epochDuration: 3000000h}`, "spec.round.epochDuration"},
		{"epoch too long a string", `round: {epochDuration: "` + strings.Repeat("1", 65) + `s"}`, "spec.round.epochDuration: Too long"},
		{"phase shift negative", `round: {phaseShift: -1s}`, "phaseShift must be a duration"},
		{"phase shift not shorter than the epoch", `round: {phaseShift: 1h}`, "phaseShift must be shorter than epochDuration"},
		{"cycle gap unparseable", `round: {cycleGap: soon}`, "cycleGap must be a duration"},
		{"cycle gap not shorter than the epoch", `round: {cycleGap: 60m}`, "cycleGap must be shorter than epochDuration"},
		{"zero phase shift and cycle gap, fractional epoch", `round: {epochDuration: 1.5h, phaseShift: 0s, cycleGap: "0"}`, ""},

		{"image with a space", `image: "poet image"`, "spec.image in body should match"},
		{"image by digest", `image: "ghcr.io/poet-operator/poet@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"`, ""},
		{"unknown pull policy", `imagePullPolicy: Sometimes`, `spec.imagePullPolicy: Unsupported value: "Sometimes"`},

		{"lps zero", `prover: {lps: 0}`, "spec.prover.lps in body should be greater than or equal to 1"},
		{"memory layers zero", `prover: {memoryLayers: 0}`, "spec.prover.memoryLayers in body should be greater than or equal to 1"},
		{"memory layers 64", `prover: {memoryLayers: 64}`, "spec.prover.memoryLayers in body should be less than or equal to 63"},
		{"tree file buffer below a node", `prover: {treeFileBuffer: 31}`, "spec.prover.treeFileBuffer in body should be greater than or equal to 32"},
		{"no prover CPU", `prover: {cpus: 0}`, "spec.prover.cpus in body should be greater than or equal to 1"},
		{"prover CPUs beyond any node", `prover: {cpus: 1025}`, "spec.prover.cpus in body should be less than or equal to 1024"},
		{"checkpoint interval zero", `prover: {checkpointInterval: 0s}`, "checkpointInterval must be a positive duration"},
		{"checkpoint interval without a unit", `prover: {checkpointInterval: "5"}`, "checkpointInterval must be a positive duration"},
		{"unknown real-time policy", `prover: {scheduling: {policy: IDLE}}`, `spec.prover.scheduling.policy: Unsupported value: "IDLE"`},
		{"real-time priority 100", `prover: {scheduling: {policy: FIFO, priority: 100}}`, "spec.prover.scheduling.priority in body should be less than or equal to 99"},
		{"real-time priority zero", `prover: {scheduling: {policy: RR, priority: 0}}`, "spec.prover.scheduling.priority in body should be greater than or equal to 1"},

		{"pow difficulty 257", `registration: {powDifficulty: 257}`, "spec.registration.powDifficulty in body should be less than or equal to 256"},
		{"pow difficulty negative", `registration: {powDifficulty: -1}`, "spec.registration.powDifficulty in body should be greater than or equal to 0"},
		{"no round members (the poet refuses 0)", `registration: {maxRoundMembers: 0}`, "spec.registration.maxRoundMembers in body should be greater than or equal to 1"},
		{"one round member", `registration: {maxRoundMembers: 1}`, ""},
		{"certifier URL without a scheme", `registration: {certifier: {url: "certifier:8080", pubkey: "` + certKey + `"}}`, "url must be an absolute http or https URL"},
		{"certifier URL relative", `registration: {certifier: {url: "/certify", pubkey: "` + certKey + `"}}`, "url must be an absolute http or https URL"},
		{"certifier URL without a host", `registration: {certifier: {url: "https://", pubkey: "` + certKey + `"}}`, "url must be an absolute http or https URL"},
		{"certifier URL on two lines (poet.conf injection)", `registration: {certifier: {url: "https://c.example\nlps = 1", pubkey: "` + certKey + `"}}`, "url must be an absolute http or https URL"},
		{"certifier URL empty", `registration: {certifier: {url: "", pubkey: "` + certKey + `"}}`, "spec.registration.certifier.url"},
		{"certifier key not 32 bytes", `registration: {certifier: {url: "https://c.example", pubkey: short}}`, "spec.registration.certifier.pubkey in body should match"},
		{"certifier with a port", `registration: {certifier: {url: "http://certifier.poet.svc:8080/", pubkey: "` + certKey + `"}}`, ""},
		{"trusted keys from both", `registration: {trustedKeys: {configMap: {name: a}, secret: {name: b}}}`, "set exactly one of configMap and secret"},
		{"trusted keys from neither", `registration: {trustedKeys: {}}`, "set exactly one of configMap and secret"},
		{"trusted keys ConfigMap unnamed", `registration: {trustedKeys: {configMap: {}}}`, "configMap.name must be a ConfigMap name"},
		{"trusted keys Secret badly named", `registration: {trustedKeys: {secret: {name: Keys_1}}}`, "secret.name must be a Secret name"},

		{"service key Secret unnamed", `serviceKeySecretRef: {key: POET_PRIVATE_KEY}`, "serviceKeySecretRef.name must be a Secret name"},
		{"service key with a slash", `serviceKeySecretRef: {name: key, key: a/b}`, "serviceKeySecretRef.key must be a Secret key"},
		{"service key ref", `serviceKeySecretRef: {name: poet-key, key: key.b64}`, ""},

		{"storage size negative", `storage: {size: -100Gi}`, "size must be a positive quantity"},
		{"storage size zero", `storage: {size: "0"}`, "size must be a positive quantity"},
		{"storage size zero as a number", `storage: {size: 0}`, "size must be a positive quantity"},
		{"storage size not a quantity", `storage: {size: lots}`, "spec.storage.size"},
		{"storage size as a number", `storage: {size: 1099511627776}`, ""},
		{"storage class badly named", `storage: {storageClassName: "Fast SSD"}`, "storageClassName must be a StorageClass name"},
		{"unknown retention policy", `storage: {retentionPolicy: Keep}`, `spec.storage.retentionPolicy: Unsupported value: "Keep"`},

		{"memory negative", `resources: {memory: -2Gi}`, "memory must be a positive quantity"},
		{"memory zero", `resources: {memory: 0Mi}`, "memory must be a positive quantity"},
		{"memory as a number", `resources: {memory: 2147483648}`, ""},
		{"extra CPUs negative", `resources: {extraCPUs: -1}`, "spec.resources.extraCPUs in body should be greater than or equal to 0"},
		{"extra CPUs beyond any node", `resources: {extraCPUs: 1025}`, "spec.resources.extraCPUs in body should be less than or equal to 1024"},

		{"node selector key not a label key", `scheduling: {nodeSelector: {"static cpu": "true"}}`, "nodeSelector keys must be label keys"},
		{"node selector", `scheduling: {nodeSelector: {poet.poet-operator.dev/static-cpu: "true"}}`, ""},
		{"toleration with an unknown effect", `scheduling: {tolerations: [{key: k, operator: Exists, effect: Sometimes}]}`, "a toleration's effect must be"},
		{"toleration without a key and Equal", `scheduling: {tolerations: [{operator: Equal, value: v}]}`, "a toleration without a key must have operator Exists"},
		{"toleration Exists with a value", `scheduling: {tolerations: [{key: k, operator: Exists, value: v}]}`, "a toleration with operator Exists must have no value"},
		{"toleration seconds without NoExecute", `scheduling: {tolerations: [{key: k, operator: Exists, effect: NoSchedule, tolerationSeconds: 30}]}`, "tolerationSeconds applies only to effect NoExecute"},
		{"tolerations", `scheduling: {tolerations: [{operator: Exists}, {key: dedicated, operator: Equal, value: poet, effect: NoExecute, tolerationSeconds: 30}]}`, ""},
		{"priority class badly named", `scheduling: {priorityClassName: "High Priority"}`, "priorityClassName must be a PriorityClass name"},

		{"unknown Service type", `service: {type: ExternalName}`, `spec.service.type: Unsupported value: "ExternalName"`},
		{"Service annotation key not a qualified name", `service: {annotations: {"my annotation": x}}`, "annotation keys must be qualified names"},
		{"load balancer class on a ClusterIP Service", `service: {loadBalancerClass: example.com/lb}`, "loadBalancerClass applies only to type LoadBalancer"},
		{"load balancer class not a qualified name", `service: {type: LoadBalancer, loadBalancerClass: "my lb"}`, "loadBalancerClass must be a qualified name"},
		{"load balancer class", `service: {type: LoadBalancer, loadBalancerClass: example.com/lb}`, ""},
		{"Service port zero", `service: {port: 0}`, "spec.service.port in body should be greater than or equal to 1"},
		{"Service port 65536", `service: {port: 65536}`, "spec.service.port in body should be less than or equal to 65535"},
		{"gRPC Service port 65536", `service: {grpcPort: 65536}`, "spec.service.grpcPort in body should be less than or equal to 65535"},
		{"gRPC on the REST Service port", `service: {port: 9090, grpcPort: 9090}`, "grpcPort must differ from port"},

		{"metrics on the container's REST port", fmt.Sprintf(`metrics: {port: %d}`, specs.RESTPort), "port must not be 8080, 50001 or 50002"},
		{"metrics on the container's gRPC port", fmt.Sprintf(`metrics: {port: %d}`, specs.GRPCPort), "port must not be 8080, 50001 or 50002"},
		{"metrics on the container's configuration port", fmt.Sprintf(`metrics: {port: %d}`, specs.ConfigPort), "port must not be 8080, 50001 or 50002"},
		{"metrics on the REST Service port", `metrics: {port: 80}`, "metrics.port must differ from service.port and service.grpcPort"},
		{"metrics on the gRPC Service port", `{metrics: {port: 9443}, service: {grpcPort: 9443}}`, "metrics.port must differ from service.port and service.grpcPort"},
		{"metrics port zero", `metrics: {port: 0}`, "spec.metrics.port in body should be greater than or equal to 1"},

		{"registration margin negative", `rollout: {registrationMargin: -1m}`, "registrationMargin must be a duration"},
		{"proof grace unparseable", `rollout: {proofGrace: soon}`, "proofGrace must be a duration"},
		{"margin and grace fill the cycle gap", `rollout: {registrationMargin: 6m, proofGrace: 6m}`, "rollout.registrationMargin plus rollout.proofGrace"},
		{"margin with the default grace fills the cycle gap", `rollout: {registrationMargin: 9m}`, "rollout.registrationMargin plus rollout.proofGrace"},
		{"a margin without a cycle gap", `{round: {cycleGap: 0s}, rollout: {registrationMargin: 1s}}`, "rollout.registrationMargin plus rollout.proofGrace"},
		{"margin and grace inside the cycle gap", `rollout: {registrationMargin: 5m, proofGrace: 6m59s}`, ""},

		{"extra argument overriding the epoch", `extraArgs: ["--epoch-duration=2h"]`, "extraArgs must not set what the operator sets from the spec"},
		{"extra argument moving the ops port", `extraArgs: ["--metrics-port", "9200"]`, "extraArgs must not set what the operator sets from the spec"},
		{"extra argument replacing the config file", `extraArgs: ["-c/tmp/poet.conf"]`, "extraArgs must not set what the operator sets from the spec"},
		{"extra arguments", `extraArgs: ["--lps", "100", "--debuglog", "--max-submit-batch-size=500"]`, ""},
		{"extra environment with the service key", fmt.Sprintf(`extraEnv: [{name: %s, value: x}]`, specs.KeyEnv), "extraEnv must not set POET_PRIVATE_KEY"},
		{"extra environment with the CPU limit", fmt.Sprintf(`extraEnv: [{name: %s, value: "1000"}]`, cpuinfo.LimitEnv), "or POET_CPU_LIMIT_MILLIS"},
		{"extra environment", `extraEnv: [{name: GOMAXPROCS, value: "2"}]`, ""},
	}
	ctx := context.Background()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := createDryRun(ctx, fmt.Sprintf("crd-case-%d", i), c.patch)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want == "":
			case err == nil:
				t.Fatalf("accepted; want a refusal containing %q", c.want)
			case !apierrors.IsInvalid(err):
				t.Fatalf("refused, but not as invalid: %v", err)
			case !strings.Contains(err.Error(), c.want):
				t.Fatalf("refused with %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}

// certKey is a well-formed certifier public key (base64 of 32 bytes).
const certKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// createDryRun creates a PoetService whose spec is validSpec merged with patch, as a
// server-side dry run: full validation, defaulting and CEL, nothing stored.
func createDryRun(ctx context.Context, name, patch string) error {
	var spec, p map[string]any
	if err := yaml.Unmarshal([]byte(validSpec), &spec); err != nil {
		return fmt.Errorf("the base spec: %w", err)
	}
	if err := yaml.Unmarshal([]byte(patch), &p); err != nil {
		return fmt.Errorf("the patch: %w", err)
	}
	mergePatch(spec, p)
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(), "kind": "PoetService",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     spec,
	}}
	return k8s.Create(ctx, u, client.DryRunAll)
}

// mergePatch applies p to dst as an RFC 7386 JSON merge patch (objects merge, the rest
// replaces).
func mergePatch(dst, p map[string]any) {
	for k, v := range p {
		pv, pok := v.(map[string]any)
		dv, dok := dst[k].(map[string]any)
		if pok && dok {
			mergePatch(dv, pv)
			continue
		}
		if pok {
			dst[k] = maps.Clone(pv)
			continue
		}
		dst[k] = v
	}
}
