package registration

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/testutil"
)

func FuzzDecodeCertificate(f *testing.F) {
	ones := strings.Repeat("01", 32)
	for _, s := range []string{
		"80" + ones + "00",
		"80" + ones + "01" + "03" + "00f15365",
		"00 01 13 ffffffffffffffff", "0100 00", "fdff 00", "00 02", "",
	} {
		f.Add(testutil.MustHex(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCertificate(data)
		if err != nil {
			return
		}
		if len(c.Pubkey) > maxCertPubkey {
			t.Fatalf("decoded a %d-byte pubkey", len(c.Pubkey))
		}
		enc, err := EncodeCertificate(c.Pubkey, c.Expiration)
		if err != nil {
			t.Fatal(err)
		}
		// The pubkey's length fits one canonical byte, so the re-encoding starts like the
		// input; the expiration may have been written in more bytes than needed, which
		// go-scale (and so decodeCertificate) accepts in its 4-to-8-byte mode.
		if k := 1 + len(c.Pubkey); !bytes.Equal(enc[:k], data[:k]) {
			t.Fatalf("re-encoded %x from %x", enc, data)
		}
		again, err := decodeCertificate(enc)
		if err != nil || !bytes.Equal(again.Pubkey, c.Pubkey) || (again.Expiration == nil) != (c.Expiration == nil) ||
			(c.Expiration != nil && !again.Expiration.Equal(*c.Expiration)) {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
	})
}

// FuzzSubmit feeds Submit arbitrary requests. Flags in the first byte make the harness
// sign the request, use the current PoW parameters or sign the certificate, so that the
// later checks are reached too. Submit must never panic, and must answer with a
// sentinel error or success.
func FuzzSubmit(f *testing.F) {
	certPub, certPriv, _ := ed25519.GenerateKey(nil)
	dir := f.TempDir()
	env := &testEnv{path: dir + "/fuzz.db", clock: testutil.NewClock(genesis), cfg: Config{
		PowDifficulty: 0, MaxRoundMembers: 50, CertifierPubkey: certPub,
	}, opts: []Option{withNoSync()}}
	r := env.open(f)
	node := newNode(7)

	f.Add(byte(0xff), []byte("prefix"), challenge(1), uint64(0), []byte{}, []byte("cert"), []byte{}, int64(0), byte(0))
	f.Add(byte(0x03), []byte{}, challenge(2), uint64(9), []byte{1, 2, 3, 4}, []byte{}, []byte{1}, int64(0), byte(8))
	f.Add(byte(0x01), []byte{}, []byte{1}, uint64(0), []byte{}, []byte{}, []byte{}, int64(-1), byte(0))
	f.Add(byte(0x00), []byte{}, []byte{}, uint64(0), []byte{}, []byte{}, []byte{}, int64(0), byte(0))

	sentinels := []error{
		ErrInvalidPublicKey, ErrInvalidSignature, ErrInvalidChallenge, ErrInvalidHint, ErrInvalidCertificate,
		ErrInvalidPowParams, ErrInvalidPow, ErrTooLate, ErrMaxMembers, ErrConflictingRegistration,
	}
	f.Fuzz(func(t *testing.T, flags byte, prefix, ch []byte, nonce uint64, nodeID, certData, hint []byte, deadline int64, difficulty byte) {
		req := SubmitRequest{Prefix: prefix, Challenge: ch, NodeID: nodeID, Nonce: nonce}
		if flags&1 != 0 {
			req.NodeID = node.pub
			node.sign(&req)
		} else {
			req.Signature = certData
		}
		if flags&2 != 0 {
			p := r.PowParams()
			p.Difficulty = uint32(difficulty)
			req.PowParams = &p
		} else if flags&4 != 0 {
			req.PowParams = &PowParams{Difficulty: uint32(difficulty), Challenge: hint}
		}
		if flags&8 != 0 {
			req.Certificate = &Certificate{Data: certData, Signature: prefix}
			if flags&16 != 0 {
				req.Certificate.Signature = ed25519.Sign(certPriv, certData)
			}
		}
		if flags&32 != 0 {
			req.CertificatePubkeyHint = hint
		}
		if flags&64 != 0 {
			req.Deadline = time.Unix(0, deadline)
		}
		if flags&128 != 0 {
			env.clock.Set(genesis.Add(time.Duration(binary.LittleEndian.Uint16(append(hint, 0, 0))) * time.Minute))
		}
		_, err := r.Submit(context.Background(), req)
		if err == nil {
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("Submit error %v is no sentinel", err)
	})
}
