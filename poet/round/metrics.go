package round

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the engine's state as metrics, read from a Snapshot at scrape time
// so the prover never touches a metric. poet_round_leaves_total keeps the reference's
// name and id label; the rest serve alerts on a stalled prover or a late proof.
type Collector struct {
	e                                        *Engine
	leaves, executing, lps, open, roundEnd   *prometheus.Desc
	lastRound, lastAt, checkpointAt, started *prometheus.Desc
	lpsInUse                                 *prometheus.Desc
}

// NewCollector returns the engine's metrics collector.
func NewCollector(e *Engine) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &Collector{
		e:            e,
		leaves:       d("poet_round_leaves_total", "Leaves of the executing round's tree.", "id"),
		executing:    d("poet_round_executing", "1 while a round's proof of sequential work runs."),
		lps:          d("poet_round_leaves_per_second", "Leaves per second over the last ten seconds."),
		open:         d("poet_open_round", "The round open for registration."),
		roundEnd:     d("poet_round_end_timestamp_seconds", "End of the latest round that started: its proof is due then."),
		started:      d("poet_round_start_timestamp_seconds", "Start of the round open for registration."),
		lastRound:    d("poet_last_proof_round", "The latest round with a published proof."),
		lastAt:       d("poet_last_proof_timestamp_seconds", "When the latest proof was published."),
		checkpointAt: d("poet_round_checkpoint_timestamp_seconds", "When the executing round was last checkpointed."),
		lpsInUse:     d("poet_prover_lps_in_use", "The leaves/s that sizes the round's in-memory layers, by source: given (--lps), measured (the last round), calibrated (before the first round) or default.", "source"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leaves, c.executing, c.lps, c.open, c.roundEnd, c.started, c.lastRound, c.lastAt, c.checkpointAt, c.lpsInUse} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.Snapshot()
	sched := c.e.cfg.Schedule
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	executing := 0.0
	if s.Executing {
		executing = 1
		ch <- prometheus.MustNewConstMetric(c.leaves, prometheus.CounterValue, float64(s.Leaves), strconv.FormatUint(s.ExecutingRound, 10))
		gauge(c.lps, s.LeavesPerSecond)
		if !s.CheckpointAt.IsZero() {
			gauge(c.checkpointAt, float64(s.CheckpointAt.UnixNano())/1e9)
		}
	} else {
		gauge(c.lps, 0)
	}
	gauge(c.executing, executing)
	gauge(c.open, float64(s.OpenRound))
	gauge(c.started, float64(sched.RoundStart(s.OpenRound).UnixNano())/1e9)
	if s.OpenRound > 0 {
		gauge(c.roundEnd, float64(sched.RoundEnd(s.OpenRound-1).UnixNano())/1e9)
	}
	if s.LPSSource != "" {
		gauge(c.lpsInUse, float64(s.LPS), s.LPSSource)
	}
	if s.LastProof {
		gauge(c.lastRound, float64(s.LastProofRound))
		if !s.LastProofAt.IsZero() {
			gauge(c.lastAt, float64(s.LastProofAt.UnixNano())/1e9)
		}
	}
}
