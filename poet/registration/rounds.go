package registration

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/poet-operator/poet-operator/poet/schedule"
)

// CloseRound ends registration for round (and every earlier round) and returns its
// statement, the membership root over its members in node-ID order, and the member
// count. From the moment CloseRound takes the lock, registrations go to a later round;
// registrations queued for this round before are committed first, so every registration
// acknowledged into the round is in the root and none is added after. The closing is
// durable. Closing a closed round again returns the same root: the round engine calls it
// again after a restart. A round without members has the empty statement.
func (r *Registry) CloseRound(round uint64) (statement []byte, members int, err error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, 0, ErrClosed
	}
	if round >= r.openFrom {
		r.openFrom = round + 1
	}
	b := r.next
	// The next round opens now, as the reference creates its database at this point.
	if next := r.openRoundLocked(); !r.round(next).known {
		b.ensure = append(b.ensure, next)
	}
	r.mu.Unlock()

	r.commitThrough(b)
	if b.err != nil {
		return nil, 0, fmt.Errorf("closing round %d: %w", round, b.err)
	}
	var t membershipTree
	err = r.db.View(func(tx *bolt.Tx) error {
		bucket := tx.Bucket(bucketRounds).Bucket(roundKey(round))
		if bucket == nil {
			return nil
		}
		c := bucket.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			t.add(v)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("computing the membership root of round %d: %w", round, err)
	}
	r.log.Info("round closed for registration", "round", round, "members", t.leaves)
	return t.root(), int(t.leaves), nil
}

// Members lists a round's members (challenges) in node-ID order, the order the
// membership root hashes them. A round without members has none.
func (r *Registry) Members(round uint64) ([][]byte, error) {
	var members [][]byte
	err := r.db.View(func(tx *bolt.Tx) error {
		members = readMembers(tx, round)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing members of round %d: %w", round, err)
	}
	return members, nil
}

// SaveProof stores a finished round durably and rotates the PoW challenge in the same
// transaction: previous ← current, current ← the proof's root. Unlike the reference,
// the rotation survives a restart. Saving a proof whose root is already the current
// challenge (a proof published again after a restart) or is empty (no PoSW ran) does
// not rotate. p.Members is stored as given; nil stores the round's registered members.
// The proof is verified first (VerifyProof): a proof that does not verify is never
// stored and the error wraps ErrInvalidProof.
func (r *Registry) SaveProof(p StoredProof) error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if p.Members == nil {
		members, err := r.Members(p.Round)
		if err != nil {
			return err
		}
		p.Members = members
		if p.Members == nil {
			p.Members = [][]byte{}
		}
	}
	if err := VerifyProof(&p); err != nil {
		r.m.invalidProofs.Inc()
		r.log.Error("refusing to store a proof that does not verify", "round", p.Round, "members", len(p.Members), "leaves", p.Leaves, "error", err)
		return err
	}
	return r.saveProof(p, true)
}

// saveProof stores a verified proof, rotating the PoW challenge when rotate is set.
func (r *Registry) saveProof(p StoredProof, rotate bool) error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	root := bytes.Clone(p.Proof.Root)
	var previous []byte
	rotated := false
	err := r.db.Update(func(tx *bolt.Tx) error {
		if p.Members == nil {
			p.Members = readMembers(tx, p.Round)
		}
		if err := tx.Bucket(bucketProofs).Put(roundKey(p.Round), encodeProof(&p)); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		current := bytes.Clone(meta.Get(keyPowCurrent))
		if !rotate || len(root) == 0 || bytes.Equal(current, root) {
			return nil
		}
		if err := meta.Put(keyPowPrevious, current); err != nil {
			return err
		}
		if err := meta.Put(keyPowCurrent, root); err != nil {
			return err
		}
		previous, rotated = current, true
		return nil
	})
	if err != nil {
		return fmt.Errorf("saving proof of round %d: %w", p.Round, err)
	}
	if rotated {
		r.powMu.Lock()
		r.pow.previous, r.pow.current = previous, root
		r.powMu.Unlock()
	}
	r.m.members.DeleteLabelValues(schedule.RoundID(p.Round))
	r.log.Info("proof saved", "round", p.Round, "members", len(p.Members), "leaves", p.Leaves, "powRotated", rotated)
	return nil
}

// LatestProof is the highest round with a stored proof, read from the keys alone (no
// proof is decoded); ok is false when no proof is stored.
func (r *Registry) LatestProof() (round uint64, ok bool, err error) {
	err = r.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketProofs).Cursor().Last(); len(k) == 8 {
			round, ok = binary.BigEndian.Uint64(k), true
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("looking up the latest proof: %w", err)
	}
	return round, ok, nil
}

// Proof returns a stored proof, or ErrProofNotFound.
func (r *Registry) Proof(round uint64) (*StoredProof, error) {
	var p *StoredProof
	err := r.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketProofs).Get(roundKey(round))
		if v == nil {
			return fmt.Errorf("%w: round %d", ErrProofNotFound, round)
		}
		var err error
		p, err = decodeProof(round, v)
		return err
	})
	if errors.Is(err, ErrCorruptProof) {
		r.m.corruptProofs.Inc()
		r.log.Error("stored proof is corrupt; not serving it (restore registrations.db from a backup, "+
			"or keep the round's directory to have the proof rebuilt)", "round", round, "error", err)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}
