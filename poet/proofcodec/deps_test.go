package proofcodec

import (
	"os/exec"
	"strings"
	"testing"
)

// The on-disk codecs are used by the prover, the registry and the import, and by
// hack/compat next to the reference's packages: they must not link the API's protobuf
// messages (rpc.api.v1 is also the reference's proto package; a binary with both panics
// at init). The JSON form, which needs them, is the subpackage proofjson.
func TestNoProtobufDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasSuffix(dep, "/poet/api/v1") {
			t.Errorf("proofcodec depends on %s", dep)
		}
	}
}
