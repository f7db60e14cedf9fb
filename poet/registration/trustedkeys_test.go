package registration

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// hintWorks reports whether a certificate signed by priv, sent with pub's hint, is
// accepted.
func hintWorks(t *testing.T, r *Registry, pub ed25519.PublicKey, priv ed25519.PrivateKey) bool {
	t.Helper()
	n := newNode(1)
	req := certRequest(n, challenge(1), priv, mustEncodeCert(t, n.pub, nil), pub[:4])
	err := r.verifyCert(&req)
	if err != nil && !errors.Is(err, errCertNoKeys) && !errors.Is(err, errCertSignature) {
		t.Fatalf("unexpected certificate error: %v", err)
	}
	return err == nil
}

func TestReloadTrustedKeys(t *testing.T) {
	ce := newCertEnv(t)
	r := ce.r
	pubB, privB, _ := ed25519.GenerateKey(nil)
	if hintWorks(t, r, pubB, privB) || !hintWorks(t, r, ce.trustedPub, ce.trustedPriv) {
		t.Fatal("initial keys")
	}
	writeKey(t, filepath.Join(ce.dir, "b.key"), pubB)
	if err := os.WriteFile(filepath.Join(ce.dir, "notes.txt"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.ReloadTrustedKeys(); err != nil {
		t.Fatal(err)
	}
	if !hintWorks(t, r, pubB, privB) || !hintWorks(t, r, ce.certPub, ce.certPriv) {
		t.Fatal("added key not loaded, or the certifier key lost")
	}
	// A broken file fails the reload and keeps every key loaded before.
	if err := os.WriteFile(filepath.Join(ce.dir, "broken.key"), []byte("AAAA"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(ce.dir, "sub", "extra.key")); err != nil {
		t.Fatal(err)
	}
	err := r.ReloadTrustedKeys()
	if !errors.Is(err, ErrInvalidPublicKey) {
		t.Fatalf("reload with a broken file: %v", err)
	}
	if !hintWorks(t, r, pubB, privB) || !hintWorks(t, r, ce.trustedPub, ce.trustedPriv) {
		t.Fatal("a failed reload changed the keys")
	}
	if err := os.WriteFile(filepath.Join(ce.dir, "broken.key"), []byte("not base64!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.ReloadTrustedKeys(); !errors.Is(err, ErrInvalidPublicKey) {
		t.Fatalf("reload with bad base64: %v", err)
	}
	if err := os.Remove(filepath.Join(ce.dir, "broken.key")); err != nil {
		t.Fatal(err)
	}
	if err := r.ReloadTrustedKeys(); err != nil {
		t.Fatal(err)
	}
	if hintWorks(t, r, ce.trustedPub, ce.trustedPriv) {
		t.Fatal("a removed key is still trusted")
	}
}

func TestReloadTrustedKeysWithoutDir(t *testing.T) {
	env := newEnv(t, defaultConfig())
	r := env.open(t)
	wantErr(t, r.ReloadTrustedKeys(), ErrTrustedKeysDirNotSet)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWatchTrustedKeysDir(t *testing.T) {
	ce := newCertEnv(t)
	r := ce.r
	run(t, r)
	pubB, privB, _ := ed25519.GenerateKey(nil)
	writeKey(t, filepath.Join(ce.dir, "b.key"), pubB)
	waitFor(t, "a new key file to be loaded", func() bool { return hintWorks(t, r, pubB, privB) })

	// A key in a new subdirectory: the directory is watched once it appears.
	pubC, privC, _ := ed25519.GenerateKey(nil)
	writeKey(t, filepath.Join(ce.dir, "new", "deeper", "c.key"), pubC)
	waitFor(t, "a key in a new directory", func() bool { return hintWorks(t, r, pubC, privC) })

	// A broken file: the reload fails and the keys stay.
	failures := r.keyReloadFailures.Load()
	if err := os.WriteFile(filepath.Join(ce.dir, "broken.key"), []byte("xx"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed reload", func() bool { return r.keyReloadFailures.Load() > failures })
	if !hintWorks(t, r, pubB, privB) || !hintWorks(t, r, pubC, privC) {
		t.Fatal("a failed reload changed the keys")
	}
}

// A Kubernetes ConfigMap or Secret volume: the files are symlinks through ..data, a
// symlink to a timestamped directory; an update writes a new directory and renames a
// new ..data link over the old one.
func TestWatchTrustedKeysKubernetesVolume(t *testing.T) {
	dir := t.TempDir()
	pubA, privA, _ := ed25519.GenerateKey(nil)
	pubB, privB, _ := ed25519.GenerateKey(nil)
	writeKey(t, filepath.Join(dir, "..2024_01_01_00_00_00.1", "certifier.key"), pubA)
	must(t, os.Symlink("..2024_01_01_00_00_00.1", filepath.Join(dir, "..data")))
	must(t, os.Symlink(filepath.Join("..data", "certifier.key"), filepath.Join(dir, "certifier.key")))

	cfg := defaultConfig()
	cfg.TrustedKeysDir = dir
	env := newEnv(t, cfg)
	r := env.open(t)
	if !hintWorks(t, r, pubA, privA) || r.keys.Load().count != 1 {
		t.Fatalf("initial load: %d keys", r.keys.Load().count)
	}
	run(t, r)

	writeKey(t, filepath.Join(dir, "..2024_01_01_00_05_00.2", "certifier.key"), pubB)
	must(t, os.Symlink("..2024_01_01_00_05_00.2", filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	must(t, os.RemoveAll(filepath.Join(dir, "..2024_01_01_00_00_00.1")))

	waitFor(t, "the swapped key", func() bool { return hintWorks(t, r, pubB, privB) && !hintWorks(t, r, pubA, privA) })
	if got := r.keys.Load().count; got != 1 {
		t.Fatalf("%d keys after the swap, want 1", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWatchStopsWithRun(t *testing.T) {
	ce := newCertEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ce.r.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}
