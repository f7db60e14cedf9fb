//go:build !linux

package placement

// Allowed is unknown here: the prover is not pinned.
func Allowed() ([]int, error) { return nil, ErrUnsupported }

// Interrupts knows no interrupt counts here.
func Interrupts(string) map[int]uint64 { return nil }

// Siblings knows no topology here.
func Siblings(string, []int) map[int][]int { return nil }

// ConfineProcess fails for a plan that pins the prover.
func (p Plan) ConfineProcess() error {
	if p.Pinned() {
		return ErrUnsupported
	}
	return nil
}

// Release fails for a plan that pins the prover.
func (p Plan) Release() error {
	if p.Pinned() {
		return ErrUnsupported
	}
	return nil
}

// PinThread fails for a plan that pins the prover or asks for a real-time policy.
func (p Plan) PinThread() error {
	if p.Pinned() || p.Sched.RealTime() {
		return ErrUnsupported
	}
	return nil
}

// CheckSched accepts only the default policy here.
func CheckSched(s Sched) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.RealTime() {
		return ErrUnsupported
	}
	return nil
}
