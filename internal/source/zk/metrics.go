package zk

import "github.com/prometheus/client_golang/prometheus"

// The source is a prometheus.Collector over its Stats, so that whoever
// runs it can register it (the dispatcher counts published and duplicate
// events per source itself).
var (
	descConnected     = prometheus.NewDesc("herald_zk_connected", "1 while the ZooKeeper source holds a session.", nil, nil)
	descNodes         = prometheus.NewDesc("herald_zk_watched_znodes", "Znodes the ZooKeeper source watches.", nil, nil)
	descSynced        = prometheus.NewDesc("herald_zk_synced", "1 when every watched znode is read and reconciled with the events stream.", nil, nil)
	descReconnects    = prometheus.NewDesc("herald_zk_reconnects_total", "ZooKeeper sessions established after the first (resumed or new).", nil, nil)
	descExpiries      = prometheus.NewDesc("herald_zk_session_expiries_total", "ZooKeeper sessions expired by the server.", nil, nil)
	descCatchUps      = prometheus.NewDesc("herald_zk_catchups_total", "Catch-up passes after a reconnect or a session expiry.", nil, nil)
	descCatchUpEvents = prometheus.NewDesc("herald_zk_catchup_events_total", "Events published by catch-up passes: changes made while disconnected.", nil, nil)
	descRepairs       = prometheus.NewDesc("herald_zk_repairs_total", "Events republished because another dispatcher stored an older version after the current one.", nil, nil)
	descImplausible   = prometheus.NewDesc("herald_zk_implausible_total", "Stored events that claimed a version ZooKeeper never had (forged), published over with ZooKeeper's state.", nil, nil)
)

var _ prometheus.Collector = (*Source)(nil)

// Describe implements prometheus.Collector.
func (s *Source) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descNodes, descSynced, descReconnects, descExpiries, descCatchUps, descCatchUpEvents, descRepairs, descImplausible} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *Source) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(descConnected, b2f(st.Connected))
	gauge(descNodes, float64(st.Nodes))
	gauge(descSynced, b2f(st.Synced))
	counter(descReconnects, st.Reconnects)
	counter(descExpiries, st.Expiries)
	counter(descCatchUps, st.CatchUps)
	counter(descCatchUpEvents, st.CatchUpEvents)
	counter(descRepairs, st.Repairs)
	counter(descImplausible, st.Implausible)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
