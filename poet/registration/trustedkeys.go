package registration

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// trustedKeys are the certifier keys a certificate may be signed with, by hint (a key's
// first four bytes). The map is immutable once built; a reload swaps in a new one.
type trustedKeys struct {
	// certifier is the configured certifier key, used for certificates without a hint.
	certifier ed25519.PublicKey
	byHint    map[[certKeyHintSize]byte][]ed25519.PublicKey
	count     int
}

// add records a key once, under its hint.
func (k *trustedKeys) add(key ed25519.PublicKey) {
	hint := [certKeyHintSize]byte(key)
	for _, have := range k.byHint[hint] {
		if bytes.Equal(have, key) {
			return
		}
	}
	k.byHint[hint] = append(k.byHint[hint], key)
	k.count++
}

// loadTrustedKeys builds the trusted-key map: the certifier key plus every *.key file
// under dir, recursively. Each file holds one standard-base64 32-byte ed25519 key;
// line breaks and surrounding blanks are ignored. Any unreadable or malformed file fails
// the whole load. Symbolic links to files are followed, links to directories are not,
// so a Kubernetes volume's ..data link does not load its keys a second time (duplicates
// are dropped anyway).
func loadTrustedKeys(certifier []byte, dir string) (*trustedKeys, error) {
	k := &trustedKeys{byHint: make(map[[certKeyHintSize]byte][]ed25519.PublicKey)}
	if len(certifier) > 0 {
		k.certifier = ed25519.PublicKey(bytes.Clone(certifier))
		k.add(k.certifier)
	}
	if dir == "" {
		return k, nil
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || filepath.Ext(path) != ".key" {
			return nil
		}
		key, err := readKeyFile(path)
		if err != nil {
			return err
		}
		if key == nil {
			return nil // a link to a directory
		}
		k.add(key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading trusted keys from %s: %w", dir, err)
	}
	return k, nil
}

// readKeyFile reads one key file; it returns nil for a symbolic link to a directory.
func readKeyFile(path string) (ed25519.PublicKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := strings.NewReplacer("\r", "", "\n", "").Replace(strings.TrimSpace(string(raw)))
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", path, ErrInvalidPublicKey, err)
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%s: %w: %d bytes, want %d", path, ErrInvalidPublicKey, len(key), ed25519.PublicKeySize)
	}
	return key, nil
}

// ReloadTrustedKeys reads the trusted-keys directory again (for SIGHUP and the
// ConfigurationService RPC). The new keys replace the old ones only if the whole
// directory was read; otherwise the old keys stay and the error says why.
func (r *Registry) ReloadTrustedKeys() error {
	if r.cfg.TrustedKeysDir == "" {
		return ErrTrustedKeysDirNotSet
	}
	k, err := loadTrustedKeys(r.cfg.CertifierPubkey, r.cfg.TrustedKeysDir)
	if err != nil {
		r.keyReloadFailures.Add(1)
		r.log.Warn("keeping the previous trusted keys", "error", err)
		return err
	}
	r.keys.Store(k)
	r.keyReloads.Add(1)
	r.log.Info("loaded trusted certifier keys", "dir", r.cfg.TrustedKeysDir, "keys", k.count)
	return nil
}

// watchDebounce is how long the directory must be quiet before a reload: one update
// of a Kubernetes volume is several events (new timestamped directory, ..data swap,
// removal of the old one).
const watchDebounce = 200 * time.Millisecond

// watchTrustedKeys reloads the trusted keys whenever something under the directory
// changes, until ctx ends. Kubernetes ConfigMap and Secret volumes change by swapping
// the ..data symlink in the top directory, which the watch on that directory sees.
func (r *Registry) watchTrustedKeys(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching trusted keys: %w", err)
	}
	defer w.Close()
	r.addWatches(w)
	// Catch changes between Open's load and the watch.
	_ = r.ReloadTrustedKeys()
	var fire <-chan time.Time
	var timer *time.Timer
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			r.log.Debug("trusted keys directory changed", "event", ev.String())
			if timer == nil {
				timer = time.NewTimer(watchDebounce)
			} else {
				timer.Reset(watchDebounce)
			}
			fire = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.log.Warn("watching trusted keys directory", "error", err)
		case <-fire:
			fire = nil
			_ = r.ReloadTrustedKeys() // logs its own failure and keeps the old keys
			r.addWatches(w)           // directories may have appeared
		}
	}
}

// addWatches watches the trusted-keys directory and every directory below it
// (fsnotify is not recursive). Directories already watched are skipped by fsnotify.
func (r *Registry) addWatches(w *fsnotify.Watcher) {
	err := filepath.WalkDir(r.cfg.TrustedKeysDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // watch what can be watched
		}
		if d.IsDir() {
			if err := w.Add(path); err != nil && !errors.Is(err, fsnotify.ErrClosed) {
				r.log.Warn("watching trusted keys directory", "path", path, "error", err)
			}
		}
		return nil
	})
	if err != nil {
		r.log.Warn("watching trusted keys directory", "error", err)
	}
}
