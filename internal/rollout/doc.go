// Package rollout coordinates how one event of one watch spreads across
// the fleet (a watch's rollout: key): at most max_hosts hosts run at once,
// canaries first, a halt after too many failures or by hand. The state of
// each rollout lives in the JetStream key-value bucket herald_rollouts,
// changed only by compare-and-set and by keys with a server-side TTL
// (leases), so that no process of ours coordinates and a host that dies
// while it holds a turn loses it when its lease runs out.
//
// A rollout is named by its event's id and its watch; under that prefix
// the bucket holds:
//
//   - plan: the hosts in their order, the canaries and the resolved limits,
//     written once by the first host that gets there (Create);
//   - gate: the counters that must not race (runs started, failures,
//     canaries done ok, the halt), changed by compare-and-set only;
//   - turn.N (N < max_hosts): a held turn, the holder's name, with a TTL
//     the holder renews (its lease);
//   - host.NAME: each host's state (waiting and running with a TTL it
//     renews; its final status without one).
//
// It knows nothing of watch files, run modes, processes or outcomes: the
// agent asks it for a turn before a run and tells it how the run ended.
package rollout
