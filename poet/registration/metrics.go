package registration

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the registry's Prometheus collectors. The names are the reference's
// (reference-poet.md §9) so its dashboards keep working; the batch-size histogram is ours.
type metrics struct {
	members      *prometheus.CounterVec
	batchLatency prometheus.Histogram
	batchSize    prometheus.Histogram
	withCert     *prometheus.CounterVec
	withPow      *prometheus.CounterVec
	// invalidProofs counts proofs refused because they do not verify; corruptProofs
	// stored proofs whose bytes fail their checksum when read.
	invalidProofs prometheus.Counter
	corruptProofs prometheus.Counter

	reg   prometheus.Registerer
	owned []prometheus.Collector
}

// newMetrics creates the collectors and registers them with reg (nil: none). A collector
// that reg already holds (a registry reopened in the same process) is reused.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		members: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "poet", Subsystem: "round", Name: "members_total",
			Help: "Number of members registered in a round.",
		}, []string{"id"}),
		batchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "poet", Subsystem: "round", Name: "batch_write_latency_seconds",
			Help:    "Latency of committing one batch of registrations, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 1.5, 20),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "poet", Subsystem: "registration", Name: "batch_size",
			Help:    "Number of registrations committed together in one transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		withCert: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "poet", Subsystem: "registration", Name: "with_cert_total",
			Help: "Number of registrations with a certificate, by result.",
		}, []string{"result"}),
		withPow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "poet", Subsystem: "registration", Name: "with_pow_total",
			Help: "Number of registrations with a proof of work, by result.",
		}, []string{"result"}),
		invalidProofs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "poet", Subsystem: "proof", Name: "invalid_total",
			Help: "Number of proofs refused because they do not verify (never stored, never served).",
		}),
		corruptProofs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "poet", Subsystem: "proof", Name: "corrupt_reads_total",
			Help: "Number of reads of a stored proof whose bytes fail their checksum (answered with an error, never served).",
		}),
		reg: reg,
	}
	for _, r := range []string{"valid", "invalid", "expired"} {
		m.withCert.WithLabelValues(r)
	}
	for _, r := range []string{"valid", "invalid"} {
		m.withPow.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.members, err = register(m, m.members); err != nil {
		return nil, err
	}
	if m.batchLatency, err = register(m, m.batchLatency); err != nil {
		return nil, err
	}
	if m.batchSize, err = register(m, m.batchSize); err != nil {
		return nil, err
	}
	if m.withCert, err = register(m, m.withCert); err != nil {
		return nil, err
	}
	if m.withPow, err = register(m, m.withPow); err != nil {
		return nil, err
	}
	if m.invalidProofs, err = register(m, m.invalidProofs); err != nil {
		return nil, err
	}
	if m.corruptProofs, err = register(m, m.corruptProofs); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c with m.reg, or returns the equal collector m.reg already has.
// On failure it unregisters what m registered before.
func register[C prometheus.Collector](m *metrics, c C) (C, error) {
	err := m.reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		m.unregister()
		return c, fmt.Errorf("registering registration metrics: %w", err)
	}
	m.owned = append(m.owned, c)
	return c, nil
}

// unregister removes the collectors this registry registered.
func (m *metrics) unregister() {
	for _, c := range m.owned {
		m.reg.Unregister(c)
	}
	m.owned = nil
}
