package registration

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/poet-operator/poet-operator/poet/schedule"
)

// Sizes the API fixes.
const (
	nodeIDSize    = ed25519.PublicKeySize
	challengeSize = 32
	powSeedSize   = 32
)

// Config configures a Registry.
type Config struct {
	// PowDifficulty is the number of leading zero bits the PoW hash needs, 0 to 256.
	PowDifficulty uint32
	// MaxRoundMembers is the most members one round accepts (0 accepts none).
	MaxRoundMembers uint64
	// CertifierURL is advertised to nodes; the registry never contacts it.
	CertifierURL string
	// CertifierPubkey is the certifier's 32-byte ed25519 key, used for certificates sent
	// without a hint, or empty.
	CertifierPubkey []byte
	// TrustedKeysDir holds more certifier keys, selected by hint: *.key files anywhere
	// below it, each the standard base64 of a 32-byte ed25519 key. Empty for none.
	TrustedKeysDir string
}

// certificatesEnabled reports whether certificates are checked at all: with any
// certifier setting, a request carrying a certificate takes the certificate path. With
// none, certificates are ignored and the proof of work decides, as the reference does
// without certifier configuration; a 401 without an advertised certifier would crash
// go-spacemesh (node-client.md, Hazards).
func (c Config) certificatesEnabled() bool {
	return c.CertifierURL != "" || len(c.CertifierPubkey) > 0 || c.TrustedKeysDir != ""
}

func (c Config) validate() error {
	var errs []error
	if c.PowDifficulty > maxPowDifficulty {
		errs = append(errs, fmt.Errorf("PoW difficulty %d: at most %d", c.PowDifficulty, maxPowDifficulty))
	}
	if n := len(c.CertifierPubkey); n != 0 && n != ed25519.PublicKeySize {
		errs = append(errs, fmt.Errorf("certifier public key is %d bytes, want %d", n, ed25519.PublicKeySize))
	}
	return errors.Join(errs...)
}

// Option changes how Open sets up a Registry.
type Option func(*options)

type options struct {
	now        func() time.Time
	reg        prometheus.Registerer
	log        *slog.Logger
	noSync     bool
	commitHook func() error
}

// WithClock sets the clock that decides the open round, deadlines and certificate
// expiry (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithRegisterer registers the registry's metrics with reg (default: not registered).
// Close unregisters them.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(o *options) { o.reg = reg }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// withNoSync skips fsync (fuzzing only: durability is not under test there).
func withNoSync() Option {
	return func(o *options) { o.noSync = true }
}

// withCommitHook runs hook inside every registration transaction; an error fails the
// commit (tests only).
func withCommitHook(hook func() error) Option {
	return func(o *options) { o.commitHook = hook }
}

// Registry accepts registrations into rounds and keeps them, the rounds' closing
// state, the PoW challenges and the finished proofs in one bbolt file. Its methods are
// safe for concurrent use. Run must be running for Submit to be answered promptly;
// without it each Submit commits its own batch.
type Registry struct {
	db    *bolt.DB
	sched schedule.Schedule
	cfg   Config
	now   func() time.Time
	log   *slog.Logger
	m     *metrics
	hook  func() error

	keys atomic.Pointer[trustedKeys]
	// keyReloads and keyReloadFailures count ReloadTrustedKeys outcomes.
	keyReloads, keyReloadFailures atomic.Uint64

	powMu sync.RWMutex
	pow   powState

	// mu guards everything below: the round bookkeeping and the batch being filled.
	mu     sync.Mutex
	closed bool
	// openFrom is the first round not closed. It moves forward in CloseRound before
	// the change is durable, so that no registration enters a closed round.
	openFrom uint64
	// durableOpenFrom is openFrom as the store has it.
	durableOpenFrom uint64
	rounds          map[uint64]*roundState
	next            *batch

	// commitMu serializes commits: whoever holds it commits batches in order.
	commitMu sync.Mutex
	kick     chan struct{}
	running  atomic.Bool
}

// powState is the current and previous PoW challenge.
type powState struct {
	current, previous []byte
}

// roundState is what the registry keeps in memory about one round.
type roundState struct {
	// committed is the number of durable members.
	committed uint64
	// known reports a bucket in the store: the round was open at some point.
	known bool
	// queued are registrations waiting for their commit, by node ID.
	queued map[[nodeIDSize]byte]queuedReg
}

type queuedReg struct {
	challenge [challengeSize]byte
	batch     *batch
}

// Open opens (or creates) the store at path and loads the trusted certifier keys.
// It fails if the keys directory cannot be read completely.
func Open(path string, sched schedule.Schedule, cfg Config, opts ...Option) (*Registry, error) {
	o := options{now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("registration config: %w", err)
	}
	if err := sched.Validate(); err != nil {
		return nil, fmt.Errorf("registration schedule: %w", err)
	}
	cfg.CertifierPubkey = bytes.Clone(cfg.CertifierPubkey)
	keys, err := loadTrustedKeys(cfg.CertifierPubkey, cfg.TrustedKeysDir)
	if err != nil {
		return nil, fmt.Errorf("loading trusted keys: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating registration store directory: %w", err)
	}
	// A damaged file is reported with what to do, before bbolt maps it: bbolt faults
	// (SIGBUS) or panics on some damage instead of returning an error.
	if err := CheckStore(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	db, err := openBolt(path, &bolt.Options{
		Timeout:         10 * time.Second,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 1 << 30,
		NoSync:          o.noSync,
	})
	if err != nil {
		return nil, fmt.Errorf("opening registration store %s: %w", path, err)
	}
	r := &Registry{
		db:     db,
		sched:  sched,
		cfg:    cfg,
		now:    o.now,
		log:    o.log,
		hook:   o.commitHook,
		rounds: make(map[uint64]*roundState),
		next:   newBatch(),
		kick:   make(chan struct{}, 1),
	}
	r.keys.Store(keys)
	var proved map[uint64]bool
	if err := db.Update(func(tx *bolt.Tx) error {
		var err error
		proved, err = r.load(tx)
		return err
	}); err != nil {
		return nil, errors.Join(fmt.Errorf("loading registration store %s: %w", path, err), db.Close())
	}
	r.durableOpenFrom = r.openFrom
	if r.m, err = newMetrics(o.reg); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	for n, st := range r.rounds {
		if !proved[n] {
			r.m.members.WithLabelValues(schedule.RoundID(n)).Add(float64(st.committed))
		}
	}
	r.log.Info("registration store opened", "path", path, "openRound", r.openRoundLocked(),
		"powDifficulty", cfg.PowDifficulty, "trustedKeys", keys.count)
	return r, nil
}

// load reads (and on first start creates) the store's state into r. It returns the
// rounds that already have a proof.
func (r *Registry) load(tx *bolt.Tx) (map[uint64]bool, error) {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return nil, err
	}
	rounds, err := tx.CreateBucketIfNotExists(bucketRounds)
	if err != nil {
		return nil, err
	}
	proofs, err := tx.CreateBucketIfNotExists(bucketProofs)
	if err != nil {
		return nil, err
	}
	switch v := meta.Get(keySchema); {
	case v == nil:
		if err := meta.Put(keySchema, storeSchemaByte); err != nil {
			return nil, err
		}
	case !bytes.Equal(v, storeSchemaByte):
		return nil, fmt.Errorf("store schema %x, this version reads %d", v, storeSchema)
	}
	if cur := meta.Get(keyPowCurrent); cur != nil {
		r.pow.current = bytes.Clone(cur)
		r.pow.previous = bytes.Clone(meta.Get(keyPowPrevious))
	} else {
		seed := make([]byte, powSeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("generating PoW challenge: %w", err)
		}
		if err := meta.Put(keyPowCurrent, seed); err != nil {
			return nil, err
		}
		r.pow.current = seed
	}
	if v := meta.Get(keyOpenFrom); v != nil {
		if r.openFrom, err = parseRoundKey(v); err != nil {
			return nil, fmt.Errorf("open_from: %w", err)
		}
	}
	proved := make(map[uint64]bool)
	err = rounds.ForEachBucket(func(k []byte) error {
		n, err := parseRoundKey(k)
		if err != nil {
			return err
		}
		r.rounds[n] = &roundState{committed: uint64(rounds.Bucket(k).Stats().KeyN), known: true}
		proved[n] = proofs.Get(k) != nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The open round exists from now on, with or without members, as the reference's
	// round database does: the round engine executes only rounds the registry opened.
	open := r.openRoundLocked()
	if _, err := rounds.CreateBucketIfNotExists(roundKey(open)); err != nil {
		return nil, err
	}
	r.round(open).known = true
	return proved, nil
}

// openRoundLocked is the round a registration enters now: the scheduled open round,
// or the first round not closed if the schedule is behind.
func (r *Registry) openRoundLocked() uint64 {
	return max(r.sched.OpenRound(r.now()), r.openFrom)
}

// round returns round n's state, creating it.
func (r *Registry) round(n uint64) *roundState {
	st := r.rounds[n]
	if st == nil {
		st = &roundState{}
		r.rounds[n] = st
	}
	return st
}

// Run commits registrations as they arrive (group commit) and, with a trusted-keys
// directory, reloads the keys when it changes. When ctx ends it commits what is queued
// and returns.
func (r *Registry) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("registry: Run is already running")
	}
	var wg sync.WaitGroup
	if r.cfg.TrustedKeysDir != "" {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		wg.Go(func() {
			if err := r.watchTrustedKeys(wctx); err != nil {
				r.log.Warn("not watching the trusted keys directory; reload with SIGHUP", "error", err)
			}
		})
	}
	for {
		select {
		case <-r.kick:
			r.commitQueued()
		case <-ctx.Done():
			r.running.Store(false)
			err := r.commitQueued()
			wg.Wait()
			return err
		}
	}
}

// Close commits what is queued and closes the store. Later calls return ErrClosed
// (Close itself returns nil again).
// Open reports whether the store is open (Close not called).
func (r *Registry) Open() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.closed
}

func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	err := r.commitQueued()
	r.m.unregister()
	if cerr := r.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing registration store: %w", cerr))
	}
	return err
}

// PowParams are the proof-of-work parameters registrations should use now.
func (r *Registry) PowParams() PowParams {
	r.powMu.RLock()
	defer r.powMu.RUnlock()
	return PowParams{Difficulty: r.cfg.PowDifficulty, Challenge: bytes.Clone(r.pow.current)}
}

// powParams returns the current parameters and the previous ones, if any.
func (r *Registry) powParams() (PowParams, *PowParams) {
	r.powMu.RLock()
	defer r.powMu.RUnlock()
	cur := PowParams{Difficulty: r.cfg.PowDifficulty, Challenge: r.pow.current}
	if r.pow.previous == nil {
		return cur, nil
	}
	return cur, &PowParams{Difficulty: r.cfg.PowDifficulty, Challenge: r.pow.previous}
}

// Certifier is the certifier to advertise. ok reports whether certificates are checked
// at all (any certifier setting); the server should advertise a certifier exactly then,
// because Submit answers ErrInvalidCertificate (401) only then.
func (r *Registry) Certifier() (url string, pubkey []byte, ok bool) {
	return r.cfg.CertifierURL, bytes.Clone(r.cfg.CertifierPubkey), r.cfg.certificatesEnabled()
}

// RoundMembers is the number of durable members of a round.
func (r *Registry) RoundMembers(round uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st := r.rounds[round]; st != nil {
		return int(st.committed)
	}
	return 0
}

// RoundKnown reports whether the registry ever opened the round (it has a bucket,
// members or not). The round engine resumes an interrupted round only then.
func (r *Registry) RoundKnown(round uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.rounds[round]
	return st != nil && st.known
}

// OpenRound is the round a registration made now enters.
func (r *Registry) OpenRound() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.openRoundLocked()
}
