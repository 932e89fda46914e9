package kv

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats is a snapshot of the source's counters.
type Stats struct {
	// Buckets is how many buckets are watched (or waited for) now.
	Buckets int
	// Reconnects counts NATS reconnects, each followed by a catch-up of
	// every bucket.
	Reconnects uint64
	// CatchUps counts catch-up passes (one per watch start: start,
	// reconnect, re-watch, change of the watched keys).
	CatchUps uint64
	// CatchUpEvents counts events stored by catch-up passes: changes made
	// while nothing watched.
	CatchUpEvents uint64
	// Published and Duplicates count events stored, and events the dedup
	// window dropped because another dispatcher stored them first.
	Published, Duplicates uint64
	// Repairs counts events stored again because an older revision was
	// stored after them.
	Repairs uint64
	// Implausible counts stored events in this source's name that claimed
	// a revision the bucket never had (forged), stored over with the
	// bucket's entry.
	Implausible uint64
}

type counters struct {
	buckets                                                             atomic.Int64
	reconnects, catchUps, catchUpEvents, published, duplicates, repairs atomic.Uint64
	implausible                                                         atomic.Uint64
}

// Stats returns a snapshot of the source's counters.
func (s *Source) Stats() Stats {
	c := &s.stats
	return Stats{
		Buckets:       int(c.buckets.Load()),
		Reconnects:    c.reconnects.Load(),
		CatchUps:      c.catchUps.Load(),
		CatchUpEvents: c.catchUpEvents.Load(),
		Published:     c.published.Load(),
		Duplicates:    c.duplicates.Load(),
		Repairs:       c.repairs.Load(),
		Implausible:   c.implausible.Load(),
	}
}

// The source is a prometheus.Collector over its Stats, so that whoever
// runs it can register it (the dispatcher counts published and duplicate
// events per source itself).
var (
	descBuckets       = prometheus.NewDesc("herald_kv_watched_buckets", "KV buckets the KV source watches or waits for.", nil, nil)
	descReconnects    = prometheus.NewDesc("herald_kv_reconnects_total", "NATS reconnects seen by the KV source, each followed by a catch-up.", nil, nil)
	descCatchUps      = prometheus.NewDesc("herald_kv_catchups_total", "Catch-up passes of the KV source (a watch started or restarted).", nil, nil)
	descCatchUpEvents = prometheus.NewDesc("herald_kv_catchup_events_total", "Events stored by catch-up passes: changes made while nothing watched.", nil, nil)
	descRepairs       = prometheus.NewDesc("herald_kv_repairs_total", "Events stored again because another dispatcher stored an older revision after them.", nil, nil)
	descImplausible   = prometheus.NewDesc("herald_kv_implausible_total", "Stored events that claimed a revision the bucket never had (forged), stored over with the bucket's entry.", nil, nil)
)

var _ prometheus.Collector = (*Source)(nil)

// Describe implements prometheus.Collector.
func (s *Source) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBuckets, descReconnects, descCatchUps, descCatchUpEvents, descRepairs, descImplausible} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Source) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	ch <- prometheus.MustNewConstMetric(descBuckets, prometheus.GaugeValue, float64(st.Buckets))
	for d, v := range map[*prometheus.Desc]uint64{descReconnects: st.Reconnects, descCatchUps: st.CatchUps, descCatchUpEvents: st.CatchUpEvents, descRepairs: st.Repairs, descImplausible: st.Implausible} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
}
