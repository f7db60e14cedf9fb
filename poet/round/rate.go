package round

import (
	"sync"
	"time"
)

// rateMeter samples a counter once a second and reports its rate over the last ten
// seconds, so status and metrics cost the prover nothing.
type rateMeter struct {
	read    func() uint64
	mu      sync.Mutex
	samples []sample
}

type sample struct {
	at time.Time
	n  uint64
}

const rateWindow = 10

func newRateMeter(read func() uint64) *rateMeter { return &rateMeter{read: read} }

// start samples until the returned function is called.
func (m *rateMeter) start() (stop func()) {
	done := make(chan struct{})
	m.add(time.Now())
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				m.add(now)
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

func (m *rateMeter) add(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples = append(m.samples, sample{now, m.read()})
	if len(m.samples) > rateWindow+1 {
		m.samples = m.samples[1:]
	}
}

// rate is counts per second between the oldest and newest samples (0 until there are two).
func (m *rateMeter) rate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.samples) < 2 {
		return 0
	}
	a, b := m.samples[0], m.samples[len(m.samples)-1]
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 || b.n < a.n {
		return 0
	}
	return float64(b.n-a.n) / d
}
