package prover

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/poet-operator/poet-operator/poet/internal/durable"
	"github.com/poet-operator/poet-operator/poet/posw"
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

// maxStateItems bounds list lengths so that a corrupt length cannot allocate wildly.
const maxStateItems = 1 << 20

// MarshalBinary encodes the state as XDR.
func (s *State) MarshalBinary() ([]byte, error) {
	var e xdrEncoder
	e.opaque([]byte(s.ExecutionStarted.UTC().Format(time.RFC3339Nano)))
	e.bool(s.Execution != nil)
	if x := s.Execution; x != nil {
		e.uint32(uint32(x.SecurityParam))
		e.list(x.Members)
		e.opaque(x.Statement)
		e.list(x.ParkedNodes)
		e.uint64(x.NumLeaves)
		e.bool(x.NIP != nil)
		if x.NIP != nil {
			e.opaque(x.NIP.Root)
			e.list(x.NIP.ProvenLeaves)
			e.list(x.NIP.ProofNodes)
		}
	}
	return e.b, nil
}

// UnmarshalBinary decodes an XDR state; trailing bytes are an error.
func (s *State) UnmarshalBinary(b []byte) error {
	d := xdrDecoder{b: b}
	started := d.opaque()
	if d.err == nil {
		t, err := time.Parse(time.RFC3339Nano, string(started))
		if err != nil {
			d.fail("execution start %q: %v", started, err)
		}
		s.ExecutionStarted = t
	}
	s.Execution = nil
	if d.bool() {
		x := &Execution{}
		sp := d.uint32()
		if sp > 255 {
			d.fail("security parameter %d does not fit a byte", sp)
		}
		x.SecurityParam = uint8(sp)
		x.Members = d.list()
		x.Statement = d.opaque()
		x.ParkedNodes = d.list()
		x.NumLeaves = d.uint64()
		if d.bool() {
			x.NIP = &posw.Proof{Root: d.opaque(), ProvenLeaves: d.list(), ProofNodes: d.list()}
		}
		s.Execution = x
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
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

type xdrEncoder struct{ b []byte }

func (e *xdrEncoder) uint32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *xdrEncoder) uint64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }

func (e *xdrEncoder) bool(v bool) {
	if v {
		e.uint32(1)
	} else {
		e.uint32(0)
	}
}

func (e *xdrEncoder) opaque(p []byte) {
	e.uint32(uint32(len(p)))
	e.b = append(e.b, p...)
	for len(e.b)%4 != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *xdrEncoder) list(items [][]byte) {
	e.uint32(uint32(len(items)))
	for _, it := range items {
		e.opaque(it)
	}
}

type xdrDecoder struct {
	b   []byte
	err error
}

func (d *xdrDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorruptState}, args...)...)
	}
}

func (d *xdrDecoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("needs %d more bytes, has %d", n, len(d.b))
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *xdrDecoder) uint32() uint32 {
	if p := d.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (d *xdrDecoder) uint64() uint64 {
	if p := d.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (d *xdrDecoder) bool() bool {
	switch v := d.uint32(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("boolean %d", v)
		return false
	}
}

func (d *xdrDecoder) opaque() []byte {
	n := d.uint32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)) {
		d.fail("opaque of %d bytes, %d left", n, len(d.b))
		return nil
	}
	p := d.take(int(n))
	d.take(int((4 - n%4) % 4))
	return append([]byte{}, p...)
}

func (d *xdrDecoder) list() [][]byte {
	n := d.uint32()
	if d.err != nil {
		return nil
	}
	if n > maxStateItems || uint64(n)*4 > uint64(len(d.b)) {
		d.fail("list of %d items, %d bytes left", n, len(d.b))
		return nil
	}
	out := make([][]byte, 0, n)
	for i := uint32(0); i < n && d.err == nil; i++ {
		out = append(out, d.opaque())
	}
	return out
}
