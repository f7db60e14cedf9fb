package registration

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/poet-operator/poet-operator/poet/schedule"
)

// Group commit. Submit puts a registration into the batch being filled (r.next) and
// waits for that batch. The committer takes the whole batch, writes it in one bbolt
// transaction (fsync'd), then wakes every waiter at once, and starts again at once if
// more arrived meanwhile: no timer, so an idle service commits a lone registration
// immediately and a busy one commits as many as arrived during the previous fsync.
// Batches are committed strictly in order, one at a time (commitMu).

// batch is one transaction's worth of work.
type batch struct {
	regs []pendingReg
	// ensure are rounds whose (possibly empty) bucket must exist: a round becomes known.
	ensure []uint64
	// openFrom, when set, is persisted as the first round not closed.
	openFrom    uint64
	setOpenFrom bool
	// done is closed once the batch is durable or failed; err then says which.
	done chan struct{}
	err  error
}

type pendingReg struct {
	round     uint64
	nodeID    [nodeIDSize]byte
	challenge [challengeSize]byte
}

func newBatch() *batch {
	return &batch{done: make(chan struct{})}
}

func (b *batch) isDone() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// commitQueued commits batches until nothing is queued. It returns the error of the
// last failed batch; its waiters have it already.
func (r *Registry) commitQueued() error {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	var err error
	for {
		b, wrote := r.commitNextLocked()
		if !wrote {
			return err
		}
		if b.err != nil {
			err = b.err
		}
	}
}

// commitThrough commits in the calling goroutine until b is done. Holding commitMu, b
// is either done or still the batch being filled, so this ends after one commit of b
// at most.
func (r *Registry) commitThrough(b *batch) {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	for !b.isDone() {
		r.commitNextLocked()
	}
}

// commitNextLocked takes the batch being filled and commits it; with nothing to write
// it just completes the batch. It reports whether it wrote. The caller holds commitMu.
func (r *Registry) commitNextLocked() (*batch, bool) {
	r.mu.Lock()
	b := r.next
	r.next = newBatch()
	if r.durableOpenFrom < r.openFrom {
		b.openFrom, b.setOpenFrom = r.openFrom, true
	}
	if len(b.regs) == 0 && len(b.ensure) == 0 && !b.setOpenFrom {
		r.mu.Unlock()
		close(b.done)
		return b, false
	}
	r.mu.Unlock()

	start := time.Now()
	err := r.write(b)
	elapsed := time.Since(start)

	added := make(map[uint64]uint64)
	r.mu.Lock()
	for i := range b.regs {
		g := &b.regs[i]
		st := r.rounds[g.round]
		delete(st.queued, g.nodeID)
		if err == nil {
			st.committed++
			st.known = true
			added[g.round]++
		}
	}
	if err == nil {
		for _, n := range b.ensure {
			r.round(n).known = true
		}
		if b.setOpenFrom && b.openFrom > r.durableOpenFrom {
			r.durableOpenFrom = b.openFrom
		}
	}
	r.mu.Unlock()

	if err != nil {
		b.err = fmt.Errorf("committing %d registrations: %w", len(b.regs), err)
		r.log.Error("registration commit failed", "registrations", len(b.regs), "error", err)
	} else {
		r.m.batchLatency.Observe(elapsed.Seconds())
		if len(b.regs) > 0 {
			r.m.batchSize.Observe(float64(len(b.regs)))
		}
		for n, k := range added {
			r.m.members.WithLabelValues(schedule.RoundID(n)).Add(float64(k))
		}
	}
	close(b.done)
	return b, true
}

// write stores a batch in one transaction. Registrations go in key order, which keeps
// bbolt's page splits local.
func (r *Registry) write(b *batch) error {
	slices.SortFunc(b.regs, func(x, y pendingReg) int {
		if c := cmp.Compare(x.round, y.round); c != 0 {
			return c
		}
		return bytes.Compare(x.nodeID[:], y.nodeID[:])
	})
	return r.db.Update(func(tx *bolt.Tx) error {
		if r.hook != nil {
			if err := r.hook(); err != nil {
				return err
			}
		}
		rounds := tx.Bucket(bucketRounds)
		var bucket *bolt.Bucket
		for i := range b.regs {
			g := &b.regs[i]
			if i == 0 || g.round != b.regs[i-1].round {
				var err error
				if bucket, err = rounds.CreateBucketIfNotExists(roundKey(g.round)); err != nil {
					return fmt.Errorf("creating round %d: %w", g.round, err)
				}
			}
			if err := bucket.Put(g.nodeID[:], g.challenge[:]); err != nil {
				return fmt.Errorf("storing registration in round %d: %w", g.round, err)
			}
		}
		for _, n := range b.ensure {
			if _, err := rounds.CreateBucketIfNotExists(roundKey(n)); err != nil {
				return fmt.Errorf("creating round %d: %w", n, err)
			}
		}
		if b.setOpenFrom {
			if err := tx.Bucket(bucketMeta).Put(keyOpenFrom, roundKey(b.openFrom)); err != nil {
				return fmt.Errorf("storing the first open round: %w", err)
			}
		}
		return nil
	})
}
