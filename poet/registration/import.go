package registration

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/poet-operator/poet-operator/poet/schedule"
)

// Member is one registration: a node ID and its challenge.
type Member struct {
	NodeID    []byte
	Challenge []byte
}

// ImportResult says what ImportMembers did with a round.
type ImportResult struct {
	// Added is the number of members written; Present the number already there with the
	// same challenge.
	Added, Present int
	// Skipped explains why nothing was imported (empty when the round was imported).
	Skipped string
}

// ImportMembers adds registrations made elsewhere (the reference's round database) to
// round, durably and in one transaction. It never changes a registration already in the
// store and never changes the statement of a round that closed here:
//
//   - a round with a proof is skipped;
//   - a round still open takes every member it does not have (a node ID registered here
//     with another challenge keeps this store's challenge; the conflict is reported in
//     Skipped only when nothing else was added);
//   - a closed round takes the members only if every member it has is among them with
//     the same challenge: its statement then becomes the imported round's, the one the
//     other service computed and executed.
//
// Importing the same members again adds nothing.
func (r *Registry) ImportMembers(round uint64, members []Member) (ImportResult, error) {
	var res ImportResult
	for _, m := range members {
		if len(m.NodeID) != nodeIDSize {
			return res, fmt.Errorf("importing round %d: node ID of %d bytes, want %d", round, len(m.NodeID), nodeIDSize)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return res, ErrClosed
	}
	if st := r.rounds[round]; st != nil && len(st.queued) > 0 {
		return res, fmt.Errorf("importing round %d: registrations are being committed into it", round)
	}
	open := round >= r.openFrom
	conflicts := 0
	err := r.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketProofs).Get(roundKey(round)) != nil {
			res.Skipped = "the round has a proof"
			return nil
		}
		rounds := tx.Bucket(bucketRounds)
		if !open {
			if b := rounds.Bucket(roundKey(round)); b != nil {
				theirs := make(map[string][]byte, len(members))
				for _, m := range members {
					theirs[string(m.NodeID)] = m.Challenge
				}
				c := b.Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if ch, ok := theirs[string(k)]; !ok || !bytes.Equal(ch, v) {
						res.Skipped = "the round closed here with registrations the imported round does not have"
						return nil
					}
				}
			}
		}
		b, err := rounds.CreateBucketIfNotExists(roundKey(round))
		if err != nil {
			return err
		}
		for _, m := range members {
			switch v := b.Get(m.NodeID); {
			case v == nil:
				if err := b.Put(bytes.Clone(m.NodeID), bytes.Clone(m.Challenge)); err != nil {
					return err
				}
				res.Added++
			case bytes.Equal(v, m.Challenge):
				res.Present++
			default:
				conflicts++
			}
		}
		return nil
	})
	if err != nil {
		return ImportResult{}, fmt.Errorf("importing round %d: %w", round, err)
	}
	if res.Skipped != "" {
		return res, nil
	}
	st := r.round(round)
	st.known = true
	st.committed += uint64(res.Added)
	if res.Added > 0 {
		r.m.members.WithLabelValues(schedule.RoundID(round)).Add(float64(res.Added))
	}
	if conflicts > 0 {
		r.log.Warn("imported round: node IDs registered here with another challenge keep this store's challenge",
			"round", round, "conflicts", conflicts)
		if res.Added == 0 && res.Present == 0 {
			res.Skipped = fmt.Sprintf("%d conflicting registrations", conflicts)
		}
	}
	return res, nil
}

// ImportProof stores a proof finished elsewhere (the reference's proofs database) unless
// the round already has one here; it reports whether it stored it. The proof is verified
// first, as every stored proof is (ErrInvalidProof), and it does not rotate the PoW
// challenge: it is history, not the newest proof.
func (r *Registry) ImportProof(p StoredProof) (bool, error) {
	if has, err := r.HasProof(p.Round); err != nil || has {
		return false, err
	}
	if err := VerifyProof(&p); err != nil {
		return false, err
	}
	if err := r.saveProof(p, false); err != nil {
		return false, err
	}
	return true, nil
}

// HasProof reports whether a round's proof is stored, without reading it.
func (r *Registry) HasProof(round uint64) (bool, error) {
	var has bool
	err := r.db.View(func(tx *bolt.Tx) error {
		has = tx.Bucket(bucketProofs).Get(roundKey(round)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("looking up the proof of round %d: %w", round, err)
	}
	return has, nil
}

// keyPowImported marks that ImportPowChallenges ran: it applies once.
var keyPowImported = []byte("pow_imported")

// ImportPowChallenges makes the PoW challenges another service accepted the ones this
// store accepts (current, then previous), so that nodes holding that service's cached
// parameters are not refused after the switch. It applies once, and only to a store
// whose challenge never rotated here; it reports whether it applied.
func (r *Registry) ImportPowChallenges(current, previous []byte) (bool, error) {
	if len(current) == 0 {
		return false, nil
	}
	applied := false
	err := r.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyPowImported) != nil || meta.Get(keyPowPrevious) != nil {
			return nil
		}
		if err := meta.Put(keyPowCurrent, bytes.Clone(current)); err != nil {
			return err
		}
		if len(previous) > 0 {
			if err := meta.Put(keyPowPrevious, bytes.Clone(previous)); err != nil {
				return err
			}
		}
		applied = true
		return meta.Put(keyPowImported, []byte{1})
	})
	if err != nil {
		return false, fmt.Errorf("importing PoW challenges: %w", err)
	}
	if applied {
		r.powMu.Lock()
		r.pow.current, r.pow.previous = bytes.Clone(current), bytes.Clone(previous)
		if len(previous) == 0 {
			r.pow.previous = nil
		}
		r.powMu.Unlock()
	}
	return applied, nil
}
