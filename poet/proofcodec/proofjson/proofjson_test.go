package proofjson

import (
	"bytes"
	"strings"
	"testing"

	"github.com/poet-operator/poet-operator/poet/posw"
)

// A proof goes out in the gateway's shape, compact, and comes back whole; leaves may
// come back as a number too; a body without a proof is an error, not a zero proof.
func TestRoundTrip(t *testing.T) {
	p, err := posw.Prove([]byte("0123456789abcdef0123456789abcdef"), 200)
	if err != nil {
		t.Fatal(err)
	}
	members := [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}
	pub := bytes.Repeat([]byte{7}, 32)
	b, err := Marshal(Response(p, members, 200, pub))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(`{"proof":{"proof":{"root":"`)) || !bytes.Contains(b, []byte(`"leaves":"200"},"pubkey":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="}`)) ||
		bytes.ContainsAny(b, " \n") {
		t.Fatalf("not the gateway's compact shape: %.120s", b)
	}
	q, gotMembers, leaves, gotPub, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if leaves != 200 || !bytes.Equal(q.Root, p.Root) || len(q.ProvenLeaves) != len(p.ProvenLeaves) || len(q.ProofNodes) != len(p.ProofNodes) ||
		len(gotMembers) != 2 || !bytes.Equal(gotPub, pub) {
		t.Fatalf("decoded %d leaves, %d members", leaves, len(gotMembers))
	}
	if err := posw.Verify([]byte("0123456789abcdef0123456789abcdef"), q, leaves); err != nil {
		t.Fatalf("the decoded proof does not verify: %v", err)
	}
	if _, _, n, _, err := Decode(bytes.Replace(b, []byte(`"leaves":"200"`), []byte(`"leaves":200`), 1)); err != nil || n != 200 {
		t.Fatalf("leaves as a number: %d %v", n, err)
	}
	for _, bad := range []string{`{}`, `{"pubkey":"AA=="}`, `not json`, `{"proof":{"leaves":"x"}}`} {
		if _, _, _, _, err := Decode([]byte(bad)); err == nil || !strings.Contains(err.Error(), "decoding proof") {
			t.Errorf("%s: %v, want a decoding error", bad, err)
		}
	}
}

// FuzzDecodeProof (moved here from poet_bench with its decoder): whatever
// decodes renders and decodes again to the same proof, and the verifier takes it without
// panicking.
func FuzzDecodeProof(f *testing.F) {
	f.Add([]byte(`{"proof":{"proof":{"root":"AA==","provenLeaves":[],"proofNodes":[]},"members":[],"leaves":"5"},"pubkey":""}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"proof":{"leaves":-1}}`))
	f.Add([]byte(`{"proof":{"proof":{"root":"qrvM","provenLeaves":["AQ==","AgM="],"proofNodes":["","BAUGBwg="]},"members":["CQk="],"leaves":300},"pubkey":"BwcHBw=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, members, leaves, pub, err := Decode(b)
		if err != nil {
			return
		}
		out, err := Marshal(Response(p, members, leaves, pub))
		if err != nil {
			t.Fatalf("a decoded proof does not render: %v", err)
		}
		q, m2, l2, pub2, err := Decode(out)
		if err != nil || l2 != leaves || !bytes.Equal(pub2, pub) || len(m2) != len(members) || !bytes.Equal(q.Root, p.Root) ||
			len(q.ProvenLeaves) != len(p.ProvenLeaves) || len(q.ProofNodes) != len(p.ProofNodes) {
			t.Fatalf("rendered %s decodes differently: %v", out, err)
		}
		_ = posw.Verify(nil, p, leaves)
	})
}
