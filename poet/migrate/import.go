package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/poet-operator/poet-operator/poet/registration"
)

// Store is where the reference's rounds and proofs go (a *registration.Registry).
type Store interface {
	ImportMembers(round uint64, members []registration.Member) (registration.ImportResult, error)
	ImportProof(p registration.StoredProof) (bool, error)
	Members(round uint64) ([][]byte, error)
	ImportPowChallenges(current, previous []byte) (bool, error)
}

// Summary counts what Import did.
type Summary struct {
	RoundsImported, MembersAdded, ProofsImported int
	// Skipped lists what was not imported and why.
	Skipped []string
}

// Import adds the reference's registrations and proofs to store. What the store already
// has is left alone, so importing again adds nothing. A proof is imported only if it
// verifies and carries servicePubkey (the key this service adopted from the same
// directory); anything not imported is logged with the reason. It then checks that
// every interrupted round's checkpoint holds the statement its members now give, the
// condition for resuming it.
func Import(ref *Reference, store Store, servicePubkey []byte, log *slog.Logger) (Summary, error) {
	var s Summary
	for _, p := range ref.Proofs {
		if len(p.ServicePubkey) != 0 && !bytes.Equal(p.ServicePubkey, servicePubkey) {
			why := fmt.Sprintf("proof of round %d: made by service key %x, this service's is %x", p.Round, p.ServicePubkey, servicePubkey)
			log.Error("not importing the reference's proof", "round", p.Round, "reason", why)
			s.Skipped = append(s.Skipped, why)
			continue
		}
		ok, err := store.ImportProof(p.StoredProof)
		switch {
		case errors.Is(err, registration.ErrInvalidProof):
			why := fmt.Sprintf("proof of round %d does not verify: %v", p.Round, err)
			log.Error("not importing the reference's proof", "round", p.Round, "error", err)
			s.Skipped = append(s.Skipped, why)
		case err != nil:
			return s, err
		case ok:
			s.ProofsImported++
			log.Info("imported the reference's proof", "round", p.Round, "members", len(p.Members), "leaves", p.Leaves)
		}
	}
	for _, rd := range ref.Rounds {
		res, err := store.ImportMembers(rd.ID, rd.Members)
		if err != nil {
			return s, err
		}
		switch {
		case res.Skipped != "":
			if res.Skipped != "the round has a proof" {
				why := fmt.Sprintf("round %d: %s", rd.ID, res.Skipped)
				log.Warn("not importing the reference's round", "round", rd.ID, "members", len(rd.Members), "reason", res.Skipped)
				s.Skipped = append(s.Skipped, why)
			}
		case res.Added > 0:
			s.RoundsImported++
			s.MembersAdded += res.Added
			log.Info("imported the reference's round", "round", rd.ID, "members", len(rd.Members), "added", res.Added, "alreadyPresent", res.Present)
		}
	}
	// Nodes hold the reference's PoW parameters for minutes: accept its challenges. It
	// served its stored challenge after its last start and, from each proof on, that
	// proof's root (the rotation it does not persist).
	current, previous := ref.PowChallenge, []byte(nil)
	if len(ref.LastRoot) != 0 {
		current, previous = ref.LastRoot, ref.PowChallenge
	}
	if ok, err := store.ImportPowChallenges(current, previous); err != nil {
		return s, err
	} else if ok {
		log.Info("accepting the reference's PoW challenges", "current", fmt.Sprintf("%x", current), "previous", fmt.Sprintf("%x", previous))
	}
	for _, c := range ref.Checkpoints {
		if c.Err != nil || c.Finished {
			continue
		}
		members, err := store.Members(c.Round)
		if err != nil {
			return s, err
		}
		if got := registration.MembershipRoot(members); !bytes.Equal(got, c.Statement) {
			why := fmt.Sprintf("round %d: its checkpoint (%d leaves) holds statement %x but its %d members give %x",
				c.Round, c.Leaves, c.Statement, len(members), got)
			log.Error("an interrupted round cannot be resumed", "round", c.Round, "reason", why)
			s.Skipped = append(s.Skipped, why)
		}
	}
	return s, nil
}

// Describe writes what Import would do with ref, for poet migrate --dry-run. It reads
// only ref; a proof's validity is checked here too.
func Describe(w io.Writer, ref *Reference, servicePubkey []byte) {
	if !ref.Found {
		fmt.Fprintln(w, "no reference poet databases found (db/rounds/<n>, db/proofs): nothing to import")
	}
	for _, rd := range ref.Rounds {
		fmt.Fprintf(w, "round %d: %d registrations (db/rounds/%d), statement %x\n",
			rd.ID, len(rd.Members), rd.ID, registration.MembershipRoot(challenges(rd.Members)))
	}
	for _, p := range ref.Proofs {
		status := "valid"
		if err := registration.VerifyProof(&p.StoredProof); err != nil {
			status = "INVALID, not imported: " + err.Error()
		} else if len(p.ServicePubkey) != 0 && servicePubkey != nil && !bytes.Equal(p.ServicePubkey, servicePubkey) {
			status = fmt.Sprintf("made by another service key %x, not imported", p.ServicePubkey)
		}
		fmt.Fprintf(w, "proof of round %d: %d members, %d leaves, root %x: %s\n", p.Round, len(p.Members), p.Leaves, p.Proof.Root, status)
	}
	for _, c := range ref.Checkpoints {
		switch {
		case c.Err != nil:
			fmt.Fprintf(w, "round %d directory: unreadable state.bin: %v\n", c.Round, c.Err)
		case c.Finished:
			fmt.Fprintf(w, "round %d directory: finished proof of %d leaves in state.bin, published at start\n", c.Round, c.Leaves)
		default:
			match := "does not match its registrations: it cannot be resumed"
			if bytes.Equal(registration.MembershipRoot(challenges(ref.Members(c.Round))), c.Statement) {
				match = "matches its registrations: resumed in place"
			}
			fmt.Fprintf(w, "round %d directory: checkpoint at %d leaves, statement %x %s\n", c.Round, c.Leaves, c.Statement, match)
		}
	}
}

func challenges(ms []registration.Member) [][]byte {
	out := make([][]byte, len(ms))
	for i, m := range ms {
		out[i] = m.Challenge
	}
	return out
}
