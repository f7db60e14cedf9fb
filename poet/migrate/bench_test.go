package migrate

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/proofcodec"
	"github.com/poet-operator/poet-operator/poet/registration"
)

// BenchmarkImportMillionMemberProof is the one-time cost of importing a reference proof
// of 1,000,000 members: decoding its XDR record (34 MB) and verifying it (the membership
// root over the members, then the PoSW verifier: 150 labels of 400 SHA-256 each, which
// does not depend on the leaf count beyond the ~log2(N) proof nodes per leaf).
func BenchmarkImportMillionMemberProof(b *testing.B) {
	const members = 1_000_000
	buf := make([]byte, 32*members)
	_, _ = rand.Read(buf)
	ms := make([][]byte, members)
	for i := range ms {
		ms[i] = buf[32*i : 32*i+32]
	}
	p, err := posw.Prove(registration.MembershipRoot(ms), 4096)
	if err != nil {
		b.Fatal(err)
	}
	rec := refProofRecord(p, ms, 4096, make([]byte, 32), "0")
	b.SetBytes(int64(len(rec)))
	var decode, root, verify time.Duration
	for b.Loop() {
		t0 := time.Now()
		got, err := proofcodec.DecodeProofData(rec)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		stmt := registration.MembershipRoot(got.Members)
		t2 := time.Now()
		if err := posw.Verify(stmt, &got.Proof, got.Leaves); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		decode, root, verify = decode+t1.Sub(t0), root+t2.Sub(t1), verify+t3.Sub(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(decode.Microseconds())/n/1000, "decode-ms")
	b.ReportMetric(float64(root.Microseconds())/n/1000, "membership-root-ms")
	b.ReportMetric(float64(verify.Microseconds())/n/1000, "posw-verify-ms")
}
