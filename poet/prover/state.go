package prover

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/durable"
	"github.com/poet-operator/poet-operator/poet/posw"
	"github.com/poet-operator/poet-operator/poet/proofcodec"
)

// StateFile is the name of a round's checkpoint in its directory.
const StateFile = "state.bin"

// State is a round's checkpoint, in the XDR layout of the reference's
// rounds/<n>/state.bin, so either implementation can resume the other's round.
type State struct {
	// ExecutionStarted is when the prover first started the round.
	ExecutionStarted time.Time
	// Execution is nil for a round that never started executing.
	Execution *Execution
}

// Execution is the progress of an executing round.
type Execution struct {
	// SecurityParam is the number of leaves a proof opens (posw.T).
	SecurityParam uint8
	// Members is unused and kept empty, as in the reference.
	Members [][]byte
	// Statement is what the labels and nodes are keyed by.
	Statement []byte
	// ParkedNodes is unused and kept empty, as in the reference.
	ParkedNodes [][]byte
	// NumLeaves is the number of leaves every layer file holds at least.
	NumLeaves uint64
	// NIP is the finished proof, once there is one.
	NIP *posw.Proof
}

// ErrCorruptState reports a state file that cannot be decoded.
var ErrCorruptState = errors.New("corrupt round state")

// maxStateItems bounds the lists of a state file.
const maxStateItems = 1 << 20

// MarshalBinary encodes the state as XDR.
func (s *State) MarshalBinary() ([]byte, error) {
	var w proofcodec.Writer
	w.Opaque([]byte(s.ExecutionStarted.UTC().Format(time.RFC3339Nano)))
	w.Bool(s.Execution != nil)
	if x := s.Execution; x != nil {
		w.Uint32(uint32(x.SecurityParam))
		w.List(x.Members)
		w.Opaque(x.Statement)
		w.List(x.ParkedNodes)
		w.Uint64(x.NumLeaves)
		w.Bool(x.NIP != nil)
		if x.NIP != nil {
			proofcodec.AppendMerkleProof(&w, x.NIP)
		}
	}
	return w.Bytes(), nil
}

// UnmarshalBinary decodes an XDR state; trailing bytes are an error.
func (s *State) UnmarshalBinary(b []byte) error {
	r := proofcodec.NewReader(b)
	started := r.Opaque()
	if r.Err() == nil {
		t, err := time.Parse(time.RFC3339Nano, string(started))
		if err != nil {
			r.Fail(fmt.Errorf("execution start %q: %v", started, err))
		}
		s.ExecutionStarted = t
	}
	s.Execution = nil
	if r.Bool() {
		x := &Execution{}
		sp := r.Uint32()
		if sp > 255 {
			r.Fail(fmt.Errorf("security parameter %d does not fit a byte", sp))
		}
		x.SecurityParam = uint8(sp)
		x.Members = r.List()
		x.Statement = r.Opaque()
		x.ParkedNodes = r.List()
		x.NumLeaves = r.Uint64()
		lists := [][][]byte{x.Members, x.ParkedNodes}
		if r.Bool() {
			nip := proofcodec.ReadMerkleProof(r)
			x.NIP = &nip
			lists = append(lists, nip.ProvenLeaves, nip.ProofNodes)
		}
		for _, l := range lists {
			if len(l) > maxStateItems {
				r.Fail(fmt.Errorf("list of %d items", len(l)))
			}
		}
		s.Execution = x
	}
	if err := r.End(); err != nil {
		return fmt.Errorf("%w: %w", ErrCorruptState, err)
	}
	return nil
}

// ReadState reads a round's state file.
func ReadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	s := &State{}
	if err := s.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, StateFile), err)
	}
	return s, nil
}

// WriteState replaces a round's state file atomically and durably: write a temporary
// file, fsync it, rename it over the old one, fsync the directory.
func WriteState(dir string, s *State) error {
	b, _ := s.MarshalBinary()
	return durable.WriteFile(filepath.Join(dir, StateFile), b)
}
