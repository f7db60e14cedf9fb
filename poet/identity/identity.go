// Package identity keeps the PoET service's ed25519 key in <datadir>/state.bin,
// byte for byte the reference's server state, so a data directory written by
// spacemeshos/poet is adopted with the identity its nodes have configured.
//
// The file is the XDR encoding of struct{ PrivKey []byte }: the length 64 as a
// big-endian uint32, then the 64-byte private key (seed ‖ public key), 68 bytes
// in all. A file that is there is never replaced: a key that cannot be read or
// does not match POET_PRIVATE_KEY stops start-up instead.
package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/poet-operator/poet-operator/poet/internal/durable"
)

const (
	// StateFile is the key file's name in the data directory.
	StateFile = "state.bin"
	// EnvVar is the environment variable that supplies the key on first start:
	// the standard base64 of the 64-byte ed25519 private key.
	EnvVar = "POET_PRIVATE_KEY"
	// StateSize is the size of a state file: a 4-byte length and the key.
	StateSize = 4 + ed25519.PrivateKeySize
)

var (
	// ErrKeyMismatch reports a POET_PRIVATE_KEY that differs from the stored key.
	ErrKeyMismatch = errors.New("private key mismatch")
	// ErrCorruptState reports a state file that does not hold a valid key.
	ErrCorruptState = errors.New("corrupt service state")
	// ErrInvalidKey reports a POET_PRIVATE_KEY that is not a valid private key.
	ErrInvalidKey = errors.New("invalid private key")
)

// Load returns the service key stored in datadir, creating the directory and
// the file on first start with envKey (POET_PRIVATE_KEY's value) or, when it
// is empty, a new random key. When the file exists, a non-empty envKey must
// match it (ErrKeyMismatch); a file that cannot be decoded is ErrCorruptState
// and is left untouched. A new file is written durably with mode 0600.
// Load assumes no other process is creating the same file concurrently.
func Load(datadir, envKey string) (ed25519.PrivateKey, error) {
	var fromEnv ed25519.PrivateKey
	if envKey != "" {
		k, err := ParseKey(envKey)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", EnvVar, err)
		}
		fromEnv = k
	}
	path := filepath.Join(datadir, StateFile)
	stored, err := readState(path)
	switch {
	case err == nil:
		if fromEnv != nil && !bytes.Equal(fromEnv, stored) {
			return nil, fmt.Errorf("%w: %s differs from the key in %s", ErrKeyMismatch, EnvVar, path)
		}
		return stored, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	key := fromEnv
	if key == nil {
		if _, key, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return nil, fmt.Errorf("generating service key: %w", err)
		}
	}
	if err := os.MkdirAll(datadir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	if err := durable.WriteFile(path, EncodeState(key)); err != nil {
		return nil, fmt.Errorf("saving service key: %w", err)
	}
	return key, nil
}

// ParseKey decodes a POET_PRIVATE_KEY value: standard base64 of a 64-byte
// ed25519 private key whose second half is the public key of its seed.
func ParseKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: decoding base64: %w", ErrInvalidKey, err)
	}
	if err := checkKey(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	return ed25519.PrivateKey(b), nil
}

// EncodeState is the content of a state file holding key.
func EncodeState(key ed25519.PrivateKey) []byte {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(key)), uint32(len(key)))
	return append(b, key...)
}

// DecodeState reads the key from a state file's content. It accepts exactly
// what the reference writes for a valid key: 68 bytes, a length of 64 and a
// key whose public half matches its seed.
func DecodeState(b []byte) (ed25519.PrivateKey, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrCorruptState, len(b), StateSize)
	}
	if n := binary.BigEndian.Uint32(b); n != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: key length %d, want %d", ErrCorruptState, n, ed25519.PrivateKeySize)
	}
	if len(b) != StateSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrCorruptState, len(b), StateSize)
	}
	if err := checkKey(b[4:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptState, err)
	}
	return ed25519.PrivateKey(bytes.Clone(b[4:])), nil
}

// checkKey verifies a 64-byte private key's public half against its seed, so
// that a damaged key is caught instead of changing the service's identity.
func checkKey(b []byte) error {
	if len(b) != ed25519.PrivateKeySize {
		return fmt.Errorf("%d bytes, want %d", len(b), ed25519.PrivateKeySize)
	}
	derived := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
	if !bytes.Equal(derived[ed25519.SeedSize:], b[ed25519.SeedSize:]) {
		return errors.New("public key half does not match the seed")
	}
	return nil
}

func readState(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening service state: %w", err)
	}
	defer f.Close()
	// One byte more than a valid file, to tell an over-long file from a valid one.
	b, err := io.ReadAll(io.LimitReader(f, StateSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	key, err := DecodeState(b)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return key, nil
}
