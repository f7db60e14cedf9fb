package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixedKey is ed25519.NewKeyFromSeed(00 01 .. 1f).
func fixedKey() ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func TestEncodeStateLayout(t *testing.T) {
	key := fixedKey()
	got := EncodeState(key)
	// 00000040, then the seed 00..1f, then the public key of that seed.
	want, _ := hex.DecodeString("00000040" +
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
		"03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
	if !bytes.Equal(got, want) || len(got) != 68 || StateSize != 68 {
		t.Fatalf("EncodeState = %x (%d bytes), want %x (68 bytes)", got, len(got), want)
	}
	back, err := DecodeState(got)
	if err != nil || !bytes.Equal(back, key) {
		t.Fatalf("DecodeState(EncodeState(k)) = %x, %v", back, err)
	}
}

func TestDecodeStateRejects(t *testing.T) {
	good := EncodeState(fixedKey())
	flipped := bytes.Clone(good)
	flipped[40] ^= 1 // in the public half
	flippedSeed := bytes.Clone(good)
	flippedSeed[5] ^= 0x80
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "0 bytes, want 68"},
		{"short header", good[:3], "3 bytes, want 68"},
		{"truncated key", good[:67], "67 bytes, want 68"},
		{"trailing byte", append(bytes.Clone(good), 0), "69 bytes, want 68"},
		{"wrong length field", append([]byte{0, 0, 0, 0x20}, good[4:36]...), "key length 32, want 64"},
		{"huge length field", append([]byte{0xff, 0xff, 0xff, 0xff}, good[4:]...), "key length 4294967295"},
		{"damaged public half", flipped, "public key half does not match the seed"},
		{"damaged seed", flippedSeed, "public key half does not match the seed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeState(tt.b)
			if !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeState = %v, want ErrCorruptState with %q", err, tt.want)
			}
		})
	}
}

func TestLoadCreatesAndReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	key, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != ed25519.PrivateKeySize {
		t.Fatalf("key length %d", len(key))
	}
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, EncodeState(key)) {
		t.Fatalf("state.bin = %x, want %x", b, EncodeState(key))
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("state.bin mode %v, want 0600", st.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want only state.bin", len(entries))
	}
	again, err := Load(dir, "")
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("second Load = %x, %v; want the same key", again, err)
	}
	withEnv, err := Load(dir, base64.StdEncoding.EncodeToString(key))
	if err != nil || !bytes.Equal(withEnv, key) {
		t.Fatalf("Load with the matching env key = %x, %v", withEnv, err)
	}
}

func TestLoadEnvOnFirstStart(t *testing.T) {
	dir := t.TempDir()
	key := fixedKey()
	got, err := Load(dir, base64.StdEncoding.EncodeToString(key))
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Load = %x, %v; want the env key", got, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil || !bytes.Equal(b, EncodeState(key)) {
		t.Fatalf("state.bin = %x, %v; want the env key encoded", b, err)
	}
}

// TestLoadReferenceFile adopts a file as the reference writes it.
func TestLoadReferenceFile(t *testing.T) {
	dir := t.TempDir()
	key := fixedKey()
	file := append([]byte{0, 0, 0, 64}, key...)
	if err := os.WriteFile(filepath.Join(dir, StateFile), file, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir, "")
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Load = %x, %v; want the stored key", got, err)
	}
}

func TestLoadMismatch(t *testing.T) {
	dir := t.TempDir()
	stored, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir, base64.StdEncoding.EncodeToString(fixedKey()))
	if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), "private key mismatch") {
		t.Fatalf("Load with another env key = %v, want ErrKeyMismatch", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, StateFile))
	if !bytes.Equal(b, EncodeState(stored)) {
		t.Fatal("a mismatching env key changed state.bin")
	}
}

func TestLoadCorruptFileIsKept(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", EncodeState(fixedKey())[:20]},
		{"long", append(EncodeState(fixedKey()), make([]byte, 4096)...)},
		{"garbage", bytes.Repeat([]byte{0xaa}, 68)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, StateFile)
			if err := os.WriteFile(path, tt.b, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, env := range []string{"", base64.StdEncoding.EncodeToString(fixedKey())} {
				_, err := Load(dir, env)
				if !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Load(env=%q) = %v, want ErrCorruptState naming %s", env, err, path)
				}
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, tt.b) {
				t.Fatal("Load replaced a corrupt state file")
			}
		})
	}
}

func TestLoadBadEnvKey(t *testing.T) {
	inconsistent := bytes.Clone(fixedKey())
	inconsistent[63] ^= 1
	tests := []struct {
		name, env, want string
	}{
		{"not base64", "not base64!", "decoding base64"},
		{"url alphabet", strings.Repeat("_-", 44), "decoding base64"},
		{"32 bytes", base64.StdEncoding.EncodeToString(make([]byte, 32)), "32 bytes, want 64"},
		{"65 bytes", base64.StdEncoding.EncodeToString(make([]byte, 65)), "65 bytes, want 64"},
		{"inconsistent halves", base64.StdEncoding.EncodeToString(inconsistent), "does not match the seed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Load(dir, tt.env)
			if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), EnvVar) {
				t.Fatalf("Load = %v, want ErrInvalidKey naming %s with %q", err, EnvVar, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, StateFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a bad env key created state.bin: %v", err)
			}
		})
	}
}

func TestLoadStateIsADirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, StateFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, ""); err == nil {
		t.Fatal("Load with a directory named state.bin succeeded")
	}
	if st, err := os.Stat(filepath.Join(dir, StateFile)); err != nil || !st.IsDir() {
		t.Fatalf("Load replaced the state.bin directory: %v", err)
	}
}

func TestLoadDataDirIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(file, ""); err == nil {
		t.Fatal("Load with a file as data directory succeeded")
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add(EncodeState(fixedKey()))
	f.Add([]byte{0, 0, 0, 64})
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 68))
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := DecodeState(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptState) {
				t.Fatalf("DecodeState error %v is not ErrCorruptState", err)
			}
			return
		}
		if !bytes.Equal(EncodeState(key), b) {
			t.Fatalf("DecodeState accepted %x, which re-encodes as %x", b, EncodeState(key))
		}
		if !bytes.Equal(ed25519.NewKeyFromSeed(key.Seed()), key) {
			t.Fatal("DecodeState accepted an inconsistent key")
		}
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString(fixedKey()))
	f.Add("")
	f.Add("====")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseKey(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ParseKey error %v is not ErrInvalidKey", err)
			}
			return
		}
		if !bytes.Equal(ed25519.NewKeyFromSeed(key.Seed()), key) {
			t.Fatal("ParseKey accepted an inconsistent key")
		}
	})
}
