package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/handlerspec"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/nats-io/nats.go/jetstream"
)

// How when: all_reported works.
//
// Every dispatcher shares one consumer, so the outcomes of one event are
// spread over the dispatchers: none of them sees them all. The state of
// each aggregate (handler, event id, watch) therefore lives in a JetStream
// key-value bucket, updated with compare-and-set:
//
//   - each outcome adds its host's status to the aggregate (the first one
//     creates it) before the outcome is acknowledged;
//   - an aggregate is complete when every live agent (fleet.Tracker)
//     whose announcement lists the watch, and whose name matches
//     match.host, has reported; an agent that stops or goes stale is no
//     longer waited for;
//   - the dispatcher that sees it complete, or sees its wait pass, marks it
//     fired with compare-and-set, so exactly one runs the handler, once;
//   - every dispatcher mirrors the unfired aggregates (a bucket watch) and
//     re-checks them every CheckInterval, so one created by a dispatcher
//     that has gone is still completed or expired by another.
//
// A host's status is its first run status (ok, failed, timeout, error);
// superseded and discarded count as reported (that host will not run the
// event) but never replace a run status. A dispatcher that stops in the
// middle of an aggregate run clears the fired mark so that another one (or
// the next start) runs it; one that dies outright loses that run (at most
// once). State is kept for BucketTTL, so a late outcome of a fired
// aggregate is ignored and the aggregate survives dispatcher restarts.

// aggState is one aggregate as stored in the bucket.
type aggState struct {
	Handler   string                   `json:"handler"`
	EventID   string                   `json:"event_id"`
	EventType string                   `json:"event_type"`
	Key       string                   `json:"key"`
	Version   string                   `json:"version,omitempty"`
	Watch     string                   `json:"watch"`
	First     time.Time                `json:"first"`
	Hosts     map[string]events.Status `json:"hosts"`
	Fired     bool                     `json:"fired,omitempty"`
	FiredBy   string                   `json:"fired_by,omitempty"`
}

// Aggregate is the JSON an all_reported handler gets on stdin (or as the
// http body).
type Aggregate struct {
	Handler   string `json:"handler"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	Key       string `json:"key"`
	Version   string `json:"version,omitempty"`
	Watch     string `json:"watch"`
	// Complete is false when the wait passed before every agent reported.
	Complete bool `json:"complete"`
	// Counts has every status, zeros included.
	Counts map[events.Status]int `json:"counts"`
	// Hosts maps each reporting host to its status.
	Hosts map[string]events.Status `json:"hosts"`
	// Missing lists the live agents holding the watch that did not report
	// (empty when Complete).
	Missing []string `json:"missing"`
	// FirstReport is when the first outcome was recorded.
	FirstReport time.Time `json:"first_report"`
}

type pendingAgg struct {
	st  aggState
	rev uint64
}

// aggregator keeps the all_reported state of one Run.
type aggregator struct {
	r  *run
	kv jetstream.KeyValue

	mu      sync.Mutex
	pending map[string]pendingAgg // bucket key -> latest unfired state
}

func newAggregator(r *run, kv jetstream.KeyValue) *aggregator {
	return &aggregator{r: r, kv: kv, pending: map[string]pendingAgg{}}
}

// aggKey is the bucket key of an aggregate: a hash, since names and ids
// may hold any character.
func aggKey(handler, eventID, watch string) string {
	h := sha256.New()
	for _, f := range []string{handler, eventID, watch} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return "agg." + hex.EncodeToString(h.Sum(nil)[:20])
}

// isConflict reports a compare-and-set that lost to another writer.
func isConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var api *jetstream.APIError
	return errors.As(err, &api) &&
		(api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// record adds o to h's aggregate for its event and watch, then checks
// whether the aggregate is complete. An error means the outcome should be
// retried.
func (a *aggregator) record(ctx context.Context, h *compiled, o events.Outcome) error {
	k := aggKey(h.Name, o.EventID, o.Watch)
	for range 50 {
		var (
			st  aggState
			rev uint64
		)
		entry, err := a.kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			st = aggState{
				Handler: h.Name, EventID: o.EventID, EventType: o.EventType, Key: o.Key, Version: o.Version,
				Watch: o.Watch, First: time.Now().UTC(), Hosts: map[string]events.Status{o.Host: o.Status},
			}
			data, _ := json.Marshal(st)
			rev, err = a.kv.Create(ctx, k, data)
			if isConflict(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("create aggregate: %w", err)
			}
		case err != nil:
			return fmt.Errorf("read aggregate: %w", err)
		default:
			if err := json.Unmarshal(entry.Value(), &st); err != nil {
				a.r.log.Warn().Err(err).Str("handler", h.Name).Str(logging.FieldEventID, o.EventID).Msg("unreadable all_reported state; outcome ignored")
				return nil
			}
			if st.Fired {
				return nil
			}
			rev = entry.Revision()
			prev, had := st.Hosts[o.Host]
			if next := events.MergeStatus(prev, had, o.Status); !had || next != prev {
				if st.Hosts == nil {
					st.Hosts = map[string]events.Status{}
				}
				st.Hosts[o.Host] = next
				data, _ := json.Marshal(st)
				rev, err = a.kv.Update(ctx, k, data, entry.Revision())
				if isConflict(err) {
					continue
				}
				if err != nil {
					return fmt.Errorf("update aggregate: %w", err)
				}
			}
		}
		a.remember(k, st, rev)
		a.consider(ctx, k, st, rev)
		return nil
	}
	return fmt.Errorf("aggregate %s: too many concurrent updates", k)
}

// remember mirrors an unfired aggregate at rev, unless a newer one is
// known.
func (a *aggregator) remember(k string, st aggState, rev uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.pending[k]; ok && p.rev >= rev {
		return
	}
	a.pending[k] = pendingAgg{st: st, rev: rev}
}

// forget drops the mirrored aggregate if it is not newer than rev.
func (a *aggregator) forget(k string, rev uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.pending[k]; ok && p.rev <= rev {
		delete(a.pending, k)
	}
}

// expected lists the live agents that hold watchName and match h's host
// glob, sorted.
func (a *aggregator) expected(h *compiled, watchName string) []string {
	var out []string
	for _, ag := range a.r.tracker.LiveAgents() {
		if !handlerspec.GlobMatch(h.Match.Host, ag.Name) {
			continue
		}
		if slices.ContainsFunc(ag.Watches, func(w events.WatchSummary) bool { return w.Name == watchName }) {
			out = append(out, ag.Name)
		}
	}
	return out
}

// consider fires the aggregate at rev if it is complete or its wait has
// passed.
func (a *aggregator) consider(ctx context.Context, k string, st aggState, rev uint64) {
	h := a.r.e.byName(st.Handler)
	if h == nil || h.When != WhenAllReported {
		a.forget(k, rev) // the handler is gone; the bucket's TTL cleans up
		return
	}
	expired := time.Since(st.First) >= h.WaitOrDefault()
	select {
	case <-a.r.tracker.Ready():
	default:
		if !expired {
			return // the fleet is not known yet
		}
	}
	var missing []string
	for _, host := range a.expected(h, st.Watch) {
		if _, ok := st.Hosts[host]; !ok {
			missing = append(missing, host)
		}
	}
	complete := len(missing) == 0
	if !complete && !expired {
		return
	}
	fired := st
	fired.Fired, fired.FiredBy = true, a.r.e.cfg.Host
	data, _ := json.Marshal(fired)
	frev, err := a.kv.Update(ctx, k, data, rev)
	if err != nil {
		if !isConflict(err) && ctx.Err() == nil {
			a.r.log.Warn().Err(err).Str("handler", h.Name).Str(logging.FieldEventID, st.EventID).Msg("cannot mark the aggregate fired; will retry")
		}
		return
	}
	a.forget(k, frev)
	log := a.r.log.With().Str("handler", h.Name).Str(logging.FieldEventID, st.EventID).Str(logging.FieldWatch, st.Watch).Logger()
	if !h.anyStatus(st.Hosts) {
		log.Debug().Msg("all reported; no host has a status the handler matches: not run")
		return
	}
	if !complete {
		log.Info().Strs("missing", missing).Float64("wait_ms", logging.Millis(h.WaitOrDefault())).Msg("not every agent reported in time; running with what was reported")
	}
	req := aggregateRequest(h, st, complete, missing)
	a.r.wg.Go(func() {
		ran := false
		select {
		case a.r.sem <- struct{}{}:
			ran = a.r.execute(ctx, h, req)
			<-a.r.sem
		case <-ctx.Done():
		}
		if ran {
			return
		}
		// Shutting down before the run finished: clear the mark so that
		// another dispatcher, or the next start, runs it.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		data, _ := json.Marshal(st)
		if _, err := a.kv.Update(uctx, k, data, frev); err != nil {
			log.Warn().Err(err).Msg("aggregate run cut short and its fired mark not cleared: it will not run")
		}
	})
}

// anyStatus reports whether some host's status is one the handler
// matches (always true without match.status).
func (h *compiled) anyStatus(hosts map[string]events.Status) bool {
	for _, st := range hosts {
		if h.Match.MatchesStatus(st) {
			return true
		}
	}
	return len(h.Match.Status) == 0
}

// aggregateRequest is the action request of an aggregate run. Its host is
// empty: it stands for every host.
func aggregateRequest(h *compiled, st aggState, complete bool, missing []string) actions.Request {
	ag := Aggregate{
		Handler: h.Name, EventID: st.EventID, EventType: st.EventType, Key: st.Key, Version: st.Version,
		Watch: st.Watch, Complete: complete, Counts: map[events.Status]int{},
		Hosts: maps.Clone(st.Hosts), Missing: append([]string{}, missing...), FirstReport: st.First,
	}
	for _, s := range events.Statuses {
		ag.Counts[s] = 0
	}
	for _, s := range st.Hosts {
		ag.Counts[s]++
	}
	env := map[string]string{
		EnvHandler:  h.Name,
		EnvComplete: strconv.FormatBool(complete),
		EnvReported: strconv.Itoa(len(st.Hosts)),
	}
	for s, n := range ag.Counts {
		env[EnvCountPrefix+strings.ToUpper(string(s))] = strconv.Itoa(n)
	}
	data, _ := json.Marshal(ag)
	return actions.Request{
		Event: events.Event{
			ID: st.EventID, Source: EventSource, Type: st.EventType, Key: st.Key, Version: st.Version,
			DataContentType: "application/json", Data: data,
		},
		Watch: st.Watch, Attempt: 1, Env: env,
	}
}

// watch mirrors the unfired aggregates of the bucket until ctx ends.
func (a *aggregator) watch(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := a.kv.WatchAll(ctx)
		if err == nil {
			a.follow(ctx, w)
			_ = w.Stop()
		} else {
			a.r.log.Warn().Err(err).Msg("cannot watch the all_reported bucket; retrying")
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (a *aggregator) follow(ctx context.Context, w jetstream.KeyWatcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case en, ok := <-w.Updates():
			if !ok {
				return
			}
			if en == nil {
				continue // the initial values are all in
			}
			var st aggState
			if en.Operation() != jetstream.KeyValuePut || json.Unmarshal(en.Value(), &st) != nil || st.Fired {
				a.forget(en.Key(), en.Revision())
				continue
			}
			a.remember(en.Key(), st, en.Revision())
		}
	}
}

// tick re-checks the unfired aggregates every CheckInterval: an agent may
// have stopped or gone stale, or a wait passed.
func (a *aggregator) tick(ctx context.Context) {
	t := time.NewTicker(a.r.e.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		snap := maps.Clone(a.pending)
		a.mu.Unlock()
		for k, p := range snap {
			a.consider(ctx, k, p.st, p.rev)
		}
	}
}
