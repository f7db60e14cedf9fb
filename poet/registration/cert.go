package registration

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"time"
)

// A certificate is the SCALE encoding of the reference's CertOnWire
// (poet/shared/cert.go):
//
//	Pubkey     compact length (at most 32) ‖ bytes
//	Expiration option byte (1 = present, anything else = absent) ‖ compact u64 Unix seconds
//
// signed with ed25519 by a trusted certifier key. Decoding follows go-scale v1.3.0, the
// reference's decoder: compact integers must use their shortest mode, and bytes after
// the last field are ignored.

// maxCertPubkey is the CertOnWire Pubkey limit.
const maxCertPubkey = 32

// certKeyHintSize is the length of a certificate-key hint: a key's first bytes.
const certKeyHintSize = 4

// Causes of ErrInvalidCertificate, in the reference's words.
var (
	errCertSignature = errors.New("signature mismatch")
	errCertPubkey    = errors.New("pubkey mismatch")
	errCertExpired   = errors.New("certificate expired")
	errCertNoKeys    = errors.New("no matching cert public keys")
	errCertDecoding  = errors.New("decoding")
)

// decodedCert is a decoded CertOnWire.
type decodedCert struct {
	Pubkey []byte
	// Expiration is nil for a certificate that never expires.
	Expiration *time.Time
}

// decodeCertificate decodes a CertOnWire.
func decodeCertificate(data []byte) (*decodedCert, error) {
	d := scaleReader{buf: data}
	n, err := d.compact()
	if err != nil {
		return nil, fmt.Errorf("pubkey length: %w", err)
	}
	if n > maxCertPubkey {
		return nil, fmt.Errorf("pubkey is %d bytes, at most %d allowed", n, maxCertPubkey)
	}
	c := &decodedCert{}
	if n > 0 {
		if c.Pubkey, err = d.bytes(int(n)); err != nil {
			return nil, fmt.Errorf("pubkey: %w", err)
		}
	}
	flag, err := d.bytes(1)
	if err != nil {
		return nil, fmt.Errorf("expiration option: %w", err)
	}
	if flag[0] != 1 {
		return c, nil
	}
	secs, err := d.compact()
	if err != nil {
		return nil, fmt.Errorf("expiration: %w", err)
	}
	exp := time.Unix(int64(secs), 0).UTC() // as the reference: beyond MaxInt64 wraps into the past
	c.Expiration = &exp
	return c, nil
}

// EncodeCertificate is the SCALE CertOnWire a certifier signs: pubkey (at most 32 bytes)
// and an optional expiration, kept to whole Unix seconds.
func EncodeCertificate(pubkey []byte, expiration *time.Time) ([]byte, error) {
	if len(pubkey) > maxCertPubkey {
		return nil, fmt.Errorf("encoding certificate: pubkey is %d bytes, at most %d allowed", len(pubkey), maxCertPubkey)
	}
	out := appendCompact(nil, uint64(len(pubkey)))
	out = append(out, pubkey...)
	if expiration == nil {
		return append(out, 0), nil
	}
	return appendCompact(append(out, 1), uint64(expiration.Unix())), nil // pre-1970 wraps, as in the reference
}

// verifyCertificate checks one certificate against one certifier key, in the
// reference's order: signature, decoding, pubkey, expiry.
func verifyCertificate(key ed25519.PublicKey, cert *Certificate, nodeID []byte, now time.Time) error {
	if len(key) != ed25519.PublicKeySize || !ed25519.Verify(key, cert.Data, cert.Signature) {
		return errCertSignature
	}
	c, err := decodeCertificate(cert.Data)
	if err != nil {
		return fmt.Errorf("%w: %w", errCertDecoding, err)
	}
	if !bytes.Equal(c.Pubkey, nodeID) {
		return errCertPubkey
	}
	if c.Expiration != nil && c.Expiration.Before(now) {
		return fmt.Errorf("%w at %s", errCertExpired, c.Expiration)
	}
	return nil
}

// scaleReader reads SCALE values from a byte slice.
type scaleReader struct {
	buf []byte
}

// bytes takes the next n bytes.
func (r *scaleReader) bytes(n int) ([]byte, error) {
	if len(r.buf) < n {
		if len(r.buf) == 0 {
			return nil, io.EOF
		}
		return nil, io.ErrUnexpectedEOF
	}
	b := append([]byte(nil), r.buf[:n]...)
	r.buf = r.buf[n:]
	return b, nil
}

// compact reads a SCALE compact unsigned integer of at most 64 bits, rejecting
// encodings longer than needed (each mode's lower bound) as go-scale does.
func (r *scaleReader) compact() (uint64, error) {
	head, err := r.bytes(1)
	if err != nil {
		return 0, err
	}
	var rest []byte
	var lo, hi uint64
	switch head[0] & 3 {
	case 0:
		return uint64(head[0] >> 2), nil
	case 1:
		rest, lo, hi = make([]byte, 1), 1<<6, 1<<14-1
	case 2:
		rest, lo, hi = make([]byte, 3), 1<<14, 1<<30-1
	default:
		n := int(head[0]>>2) + 4
		if n > 8 {
			return 0, fmt.Errorf("compact integer of %d bytes, at most 8 allowed", n)
		}
		rest, lo, hi = make([]byte, n), 1<<30, 1<<64-1
	}
	b, err := r.bytes(len(rest))
	if err != nil {
		return 0, err
	}
	var v uint64
	if head[0]&3 == 3 {
		for i, x := range b {
			v |= uint64(x) << (8 * i)
		}
	} else {
		v = uint64(head[0])
		for i, x := range b {
			v |= uint64(x) << (8 * (i + 1))
		}
		v >>= 2
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("compact integer %d is out of range for its mode", v)
	}
	return v, nil
}

// appendCompact appends v in SCALE compact encoding, shortest mode.
func appendCompact(out []byte, v uint64) []byte {
	switch {
	case v < 1<<6:
		return append(out, byte(v<<2))
	case v < 1<<14:
		return append(out, byte(v<<2|1), byte(v>>6))
	case v < 1<<30:
		w := uint32(v<<2 | 2)
		return append(out, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	n := 8
	for n > 4 && v>>(8*(n-1)) == 0 {
		n--
	}
	out = append(out, byte((n-4)<<2|3))
	for i := 0; i < n; i++ {
		out = append(out, byte(v>>(8*i)))
	}
	return out
}
