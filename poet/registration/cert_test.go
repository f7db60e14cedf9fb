package registration

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
)

func mustEncodeCert(t testing.TB, pubkey []byte, exp *time.Time) []byte {
	t.Helper()
	b, err := EncodeCertificate(pubkey, exp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reference-poet.md §5.
func TestCertificateKnownAnswers(t *testing.T) {
	pub := bytes.Repeat([]byte{0x01}, 32)
	ones := strings.Repeat("01", 32)
	exp := time.Unix(1700000000, 0)
	tests := []struct {
		name string
		exp  *time.Time
		want string
	}{
		{"no expiry", nil, "80" + ones + "00"},
		{"expiry 1700000000", &exp, "80" + ones + "01" + "03" + "00f15365"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustEncodeCert(t, pub, tt.exp)
			if hex.EncodeToString(got) != tt.want {
				t.Fatalf("encoded %x, want %s", got, tt.want)
			}
			c, err := decodeCertificate(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.Pubkey, pub) || (c.Expiration == nil) != (tt.exp == nil) ||
				(tt.exp != nil && !c.Expiration.Equal(*tt.exp)) {
				t.Fatalf("decoded %+v", c)
			}
		})
	}
}

func TestDecodeCertificate(t *testing.T) {
	ones := strings.Repeat("01", 32)
	tests := []struct {
		name    string
		in      string
		pubkey  string
		expires int64 // -1: no expiration
		err     bool
	}{
		{"trailing bytes ignored", "80" + ones + "00" + "deadbeef", ones, -1, false},
		{"option byte 2 is none", "80" + ones + "02" + "03", ones, -1, false},
		{"option byte ff is none", "80" + ones + "ff", ones, -1, false},
		{"empty pubkey", "00 00", "", -1, false},
		{"short pubkey", "08 aabb 00", "aabb", -1, false},
		{"expiry 0", "00 01 00", "", 0, false},
		{"expiry 63", "00 01 fc", "", 63, false},
		{"expiry 64 two bytes", "00 01 0101", "", 64, false},
		{"expiry 2^14 four bytes", "00 01 02000100", "", 1 << 14, false},
		{"expiry 2^30 big mode", "00 01 03 00000040", "", 1 << 30, false},
		{"expiry 2^32 five bytes", "00 01 07 0000000001", "", 1 << 32, false},
		{"expiry max uint64", "00 01 13 ffffffffffffffff", "", -1 << 63, true},
		{"empty", "", "", -1, true},
		{"no option byte", "80" + ones, "", -1, true},
		{"pubkey truncated", "80" + ones[:62], "", -1, true},
		{"pubkey 33 bytes", "84" + ones + "01" + "00", "", -1, true},
		{"length non-canonical two bytes", "0100 00", "", -1, true},
		{"length non-canonical four bytes", "02000000 00", "", -1, true},
		{"length too large", "fdff 00", "", -1, true},
		{"expiry missing", "00 01", "", -1, true},
		{"expiry truncated", "00 01 03 0000", "", -1, true},
		{"expiry non-canonical two bytes", "00 01 fd00", "", -1, true},
		{"expiry non-canonical four bytes", "00 01 feff0000", "", -1, true},
		{"expiry non-canonical big mode", "00 01 03 ffffff3f", "", -1, true},
		{"expiry nine bytes", "00 01 17 000000000000000001", "", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := decodeCertificate(testutil.MustHex(t, tt.in))
			if tt.err {
				if err == nil && tt.expires != -1<<63 {
					t.Fatalf("decoded %+v, want an error", c)
				}
				if tt.expires == -1<<63 { // decodes; the time is far in the past, as in the reference
					if err != nil || c.Expiration == nil || c.Expiration.Unix() != -1 {
						t.Fatalf("max uint64 expiry: %+v, %v", c, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(c.Pubkey) != tt.pubkey {
				t.Fatalf("pubkey %x, want %s", c.Pubkey, tt.pubkey)
			}
			switch {
			case tt.expires == -1 && c.Expiration != nil:
				t.Fatalf("expiration %v, want none", c.Expiration)
			case tt.expires >= 0 && (c.Expiration == nil || c.Expiration.Unix() != tt.expires):
				t.Fatalf("expiration %v, want %d", c.Expiration, tt.expires)
			}
		})
	}
}

func TestAppendCompactRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 63, 64, 1<<14 - 1, 1 << 14, 1<<30 - 1, 1 << 30, 1<<32 - 1, 1 << 32, 1<<56 - 1, 1 << 56, 1<<64 - 1} {
		enc := appendCompact(nil, v)
		r := scaleReader{buf: enc}
		got, err := r.compact()
		if err != nil || got != v || len(r.buf) != 0 {
			t.Errorf("%d: encoded %x, decoded %d, %v", v, enc, got, err)
		}
	}
}

func TestEncodeCertificateRejectsLongPubkey(t *testing.T) {
	if _, err := EncodeCertificate(make([]byte, 33), nil); err == nil {
		t.Fatal("33-byte pubkey encoded")
	}
}

// certEnv is a registry with a certifier key and a trusted-keys directory holding one
// more key.
type certEnv struct {
	*testEnv
	r                     *Registry
	certPub, trustedPub   ed25519.PublicKey
	certPriv, trustedPriv ed25519.PrivateKey
	dir                   string
}

func newCertEnv(t *testing.T) *certEnv {
	ce := &certEnv{dir: t.TempDir()}
	ce.certPub, ce.certPriv, _ = ed25519.GenerateKey(nil)
	ce.trustedPub, ce.trustedPriv, _ = ed25519.GenerateKey(nil)
	writeKey(t, filepath.Join(ce.dir, "sub", "extra.key"), ce.trustedPub)
	cfg := defaultConfig()
	cfg.CertifierURL = "http://certifier.example"
	cfg.CertifierPubkey = ce.certPub
	cfg.TrustedKeysDir = ce.dir
	ce.testEnv = newEnv(t, cfg)
	ce.r = ce.open(t)
	return ce
}

func writeKey(t testing.TB, path string, key []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// certRequest is a signed request carrying a certificate (and no PoW).
func certRequest(n testNode, ch []byte, signer ed25519.PrivateKey, data []byte, hint []byte) SubmitRequest {
	return SubmitRequest{
		Prefix:                testPrefix,
		Challenge:             ch,
		NodeID:                n.pub,
		Signature:             ed25519.Sign(n.priv, append(append([]byte{}, testPrefix...), ch...)),
		Certificate:           &Certificate{Data: data, Signature: ed25519.Sign(signer, data)},
		CertificatePubkeyHint: hint,
	}
}

func TestSubmitWithCertificate(t *testing.T) {
	ce := newCertEnv(t)
	r := ce.r
	future := genesis.Add(time.Hour)
	past := genesis.Add(-time.Second)
	tests := []struct {
		name   string
		req    func(n testNode) SubmitRequest
		want   error
		msg    string
		result string
	}{
		{"certifier key without hint", func(n testNode) SubmitRequest {
			return certRequest(n, challenge(1), ce.certPriv, mustEncodeCert(t, n.pub, nil), nil)
		}, nil, "", "valid"},
		{"certifier key with its hint", func(n testNode) SubmitRequest {
			return certRequest(n, challenge(1), ce.certPriv, mustEncodeCert(t, n.pub, &future), ce.certPub[:4])
		}, nil, "", "valid"},
		{"trusted key with hint", func(n testNode) SubmitRequest {
			return certRequest(n, challenge(1), ce.trustedPriv, mustEncodeCert(t, n.pub, nil), ce.trustedPub[:4])
		}, nil, "", "valid"},
		{"trusted key without hint", func(n testNode) SubmitRequest {
			return certRequest(n, challenge(1), ce.trustedPriv, mustEncodeCert(t, n.pub, nil), nil)
		}, ErrInvalidCertificate, "invalid certificate: signature mismatch", "invalid"},
		{"unknown hint", func(n testNode) SubmitRequest {
			return certRequest(n, challenge(1), ce.certPriv, mustEncodeCert(t, n.pub, nil), []byte{0, 0, 0, 0})
		}, ErrInvalidCertificate, "invalid certificate: no matching cert public keys", "invalid"},
		{"pubkey mismatch", func(n testNode) SubmitRequest {
			return certRequest(n, challenge(1), ce.certPriv, mustEncodeCert(t, newNode(99).pub, nil), nil)
		}, ErrInvalidCertificate, "invalid certificate: pubkey mismatch", "invalid"},
		{"expired", func(n testNode) SubmitRequest {
			return certRequest(n, challenge(1), ce.certPriv, mustEncodeCert(t, n.pub, &past), nil)
		}, ErrInvalidCertificate, "invalid certificate: certificate expired at 2023-12-31 23:59:59 +0000 UTC", "expired"},
		{"undecodable", func(n testNode) SubmitRequest {
			return certRequest(n, challenge(1), ce.certPriv, []byte{0x80}, nil)
		}, ErrInvalidCertificate, "invalid certificate: decoding: ", "invalid"},
		{"certificate wins over valid PoW", func(n testNode) SubmitRequest {
			req := n.request(r, challenge(1))
			req.Certificate = &Certificate{Data: mustEncodeCert(t, n.pub, nil), Signature: make([]byte, 64)}
			return req
		}, ErrInvalidCertificate, "invalid certificate: signature mismatch", "invalid"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counterValue(r.m.withCert.WithLabelValues(tt.result))
			_, err := r.Submit(context.Background(), tt.req(newNode(uint64(i))))
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), tt.msg) {
				t.Fatalf("error %q, want %q", err, tt.msg)
			}
			if after := counterValue(r.m.withCert.WithLabelValues(tt.result)); after != before+1 {
				t.Fatalf("poet_registration_with_cert_total{%s} went %v → %v", tt.result, before, after)
			}
		})
	}
}

// A certificate whose hint matches several keys is accepted if any key verifies it.
func TestCertificateHintSharedByKeys(t *testing.T) {
	k := &trustedKeys{byHint: map[[4]byte][]ed25519.PublicKey{}}
	pubA, privA, _ := ed25519.GenerateKey(nil)
	pubB := append(bytes.Clone(pubA[:4]), bytes.Repeat([]byte{7}, 28)...)
	k.add(pubB)
	k.add(pubA)
	k.add(pubA)
	if k.count != 2 || len(k.byHint[[4]byte(pubA)]) != 2 {
		t.Fatalf("keys %+v", k)
	}
	r := &Registry{now: func() time.Time { return genesis }}
	r.keys.Store(k)
	n := newNode(1)
	req := certRequest(n, challenge(1), privA, mustEncodeCert(t, n.pub, nil), pubA[:4])
	if err := r.verifyCert(&req); err != nil {
		t.Fatal(err)
	}
	req = certRequest(n, challenge(1), privA, mustEncodeCert(t, newNode(2).pub, nil), pubA[:4])
	if err := r.verifyCert(&req); !errors.Is(err, errCertPubkey) {
		t.Fatalf("the cause is the verifying key's: %v", err)
	}
}

// With a certifier configured but no key at all, a certificate is refused (as the
// reference does); with no certifier configuration, certificates are ignored and the
// PoW decides, so that no 401 reaches a node that was not offered a certifier.
func TestCertificateWithoutKeys(t *testing.T) {
	t.Run("certifier URL only", func(t *testing.T) {
		cfg := defaultConfig()
		cfg.CertifierURL = "http://certifier.example"
		env := newEnv(t, cfg)
		r := env.open(t)
		n := newNode(1)
		req := n.request(r, challenge(1))
		req.Certificate = &Certificate{Data: mustEncodeCert(t, n.pub, nil), Signature: make([]byte, 64)}
		_, err := r.Submit(context.Background(), req)
		if !errors.Is(err, ErrInvalidCertificate) || !strings.HasSuffix(err.Error(), "no matching cert public keys") {
			t.Fatalf("error %v", err)
		}
		if _, _, ok := r.Certifier(); !ok {
			t.Fatal("a configured certifier is not advertised")
		}
	})
	t.Run("no certifier", func(t *testing.T) {
		env := newEnv(t, defaultConfig())
		r := env.open(t)
		n := newNode(1)
		req := n.request(r, challenge(1))
		req.Certificate = &Certificate{Data: []byte{1, 2, 3}, Signature: []byte{4}}
		mustSubmit(t, r, req)
		req = n.request(r, challenge(1))
		req.PowParams = nil
		req.Certificate = &Certificate{}
		_, err := r.Submit(context.Background(), req)
		wantErr(t, err, ErrInvalidPowParams)
		if url, key, ok := r.Certifier(); ok || url != "" || key != nil {
			t.Fatalf("Certifier() = %q %x %v", url, key, ok)
		}
	})
}
