package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// DefaultPoll is how often a waiting host reads its rollout's state when
// nothing wakes it: every change to the rollout's keys does (a core
// subscription on their subjects), the poll catches what no message
// announces (a lease running out).
const DefaultPoll = time.Second

// Coordinator takes and gives back one agent's turns.
type Coordinator struct {
	JS   jetstream.JetStream
	NC   *nats.Conn
	Host string
	// Live lists the live hosts whose announcements hold watch; the plan
	// of a rollout is made from it (the host itself is added).
	Live func(ctx context.Context, watch string) ([]string, error)
	Log  zerolog.Logger
	// Poll is DefaultPoll when zero.
	Poll time.Duration

	mu sync.Mutex
	kv jetstream.KeyValue
}

// Request is one run that needs a turn.
type Request struct {
	Spec      Spec
	Watch     string
	EventID   string
	Key       string
	EventTime time.Time
	// OnWait is called, if set, once the host waits for its turn.
	OnWait func()
}

// HaltedError is Take's answer when the rollout is halted: the host does
// not run.
type HaltedError struct{ Halt Halt }

func (e *HaltedError) Error() string {
	return fmt.Sprintf("rollout halted by %s: %s", e.Halt.By, e.Halt.Reason)
}

func (c *Coordinator) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kv != nil {
		return c.kv, nil
	}
	kv, err := c.JS.KeyValue(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("rollout bucket %s: %w", Bucket, err)
	}
	c.kv = kv
	return kv, nil
}

func (c *Coordinator) poll() time.Duration {
	if c.Poll > 0 {
		return c.Poll
	}
	return DefaultPoll
}

// Turn is a held turn; Finish gives it back.
type Turn struct {
	c      *Coordinator
	kv     jetstream.KeyValue
	id     ID
	n      int
	haltAt int
	lease  time.Duration
	stop   context.CancelFunc
	wg     sync.WaitGroup
	// rev is the turn key's revision as this host last wrote it (guarded
	// by the renewal goroutine until halt): the turn is given back only
	// if it is still that one.
	rev uint64
	// Canary reports whether the host is one of the rollout's canaries.
	Canary bool
}

// Take waits for the host's turn in the rollout of r's event and watch
// and returns it, held. It returns a *HaltedError when the rollout is
// halted before the host starts (its state is then halted), and ctx's
// error when ctx ends first (a newer event superseded this one, or the
// agent stops): the host then leaves the rollout without a final state.
func (c *Coordinator) Take(ctx context.Context, r Request) (*Turn, error) {
	kv, err := c.bucket(ctx)
	if err != nil {
		return nil, err
	}
	id := ID{EventID: r.EventID, Watch: r.Watch}
	lease := r.Spec.lease()
	if r.Spec.Splay > 0 {
		if err := sleep(ctx, rand.N(r.Spec.Splay)); err != nil {
			return nil, err
		}
	}
	plan, err := c.plan(ctx, kv, id, r)
	if err != nil {
		return nil, err
	}
	canary := plan.isCanary(c.Host)
	pos := plan.position(c.Host)

	wake, stop, err := c.follow(id)
	if err != nil {
		return nil, err
	}
	defer stop()

	if err := c.putHost(ctx, kv, id, HostState{Host: c.Host, State: StateWaiting, Canary: canary}, lease); err != nil {
		return nil, err
	}
	if r.OnWait != nil {
		r.OnWait()
	}
	waitStart := time.Now()
	renewAt := time.Now().Add(lease / 3)
	var lastGate Gate
	gateSince := time.Now()
	for {
		g, err := readGate(ctx, kv, id)
		if err != nil {
			return nil, c.waitErr(ctx, err)
		}
		if !slices.Equal(g.CanaryOK, lastGate.CanaryOK) || g.Started != lastGate.Started || g.Finished != lastGate.Finished || (g.Halt == nil) != (lastGate.Halt == nil) {
			lastGate, gateSince = g.Gate, time.Now()
		}
		if g.Halt != nil {
			return nil, c.halted(ctx, kv, id, canary, *g.Halt)
		}
		if h := plan.autoHalt(g.Gate); h != "" {
			if err := c.halt(ctx, kv, id, h); err != nil {
				return nil, c.waitErr(ctx, err)
			}
			continue
		}
		eligible := true
		if !canary && !g.CanaryWaived && len(g.CanaryOK) < len(plan.Canary) {
			eligible = false
			if time.Since(waitStart) > 2*lease {
				if h, err := c.lostCanary(ctx, kv, id, plan, g.Gate); err != nil {
					return nil, c.waitErr(ctx, err)
				} else if h != "" {
					if err := c.halt(ctx, kv, id, h); err != nil {
						return nil, c.waitErr(ctx, err)
					}
					continue
				}
			}
		}
		// Who goes first: a host takes a turn once the hosts before it in
		// the plan's order have started, up to max_hosts at once; hosts
		// that never come (dead, or gone since the plan) hold the line
		// back for one lease at most.
		if eligible && !canary && pos >= g.Started+plan.Max && time.Since(gateSince) < lease {
			eligible = false
		}
		if eligible {
			t, err := c.tryTurn(ctx, kv, id, plan, lease)
			if err != nil {
				return nil, c.waitErr(ctx, err)
			}
			if t != nil {
				return t, nil
			}
		}
		if time.Now().After(renewAt) {
			if err := c.putHost(ctx, kv, id, HostState{Host: c.Host, State: StateWaiting, Canary: canary}, lease); err != nil {
				return nil, c.waitErr(ctx, err)
			}
			renewAt = time.Now().Add(lease / 3)
		}
		t := time.NewTimer(c.poll()/2 + rand.N(c.poll()))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// follow wakes a waiting host when its rollout's gate changes or a turn
// is given back: core subscriptions on the gate's subject and the turns',
// whose renewals (stores without a KV-Operation header) are ignored. Host
// states are not followed: a host's renewals would wake every other.
func (c *Coordinator) follow(id ID) (<-chan struct{}, func(), error) {
	wake := make(chan struct{}, 1)
	poke := func(m *nats.Msg) {
		if strings.HasSuffix(m.Subject, ".gate") || m.Header.Get("KV-Operation") != "" {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}
	var subs []*nats.Subscription
	stop := func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}
	for _, subj := range []string{SubjectPrefix + id.gateKey(), id.turnSubjects()} {
		s, err := c.NC.Subscribe(subj, poke)
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("rollout: follow %s: %w", subj, err)
		}
		subs = append(subs, s)
	}
	return wake, stop, nil
}

func (c *Coordinator) waitErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// plan reads the rollout's plan, or makes it from the live hosts holding
// the watch; the first host to store it wins.
func (c *Coordinator) plan(ctx context.Context, kv jetstream.KeyValue, id ID, r Request) (*Plan, error) {
	var p Plan
	_, err := getJSON(ctx, kv, id.planKey(), &p)
	if err == nil {
		return &p, nil
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, err
	}
	hosts, err := c.Live(ctx, r.Watch)
	if err != nil {
		return nil, fmt.Errorf("rollout: the live hosts of watch %q: %w", r.Watch, err)
	}
	if !slices.Contains(hosts, c.Host) {
		hosts = append(hosts, c.Host)
	}
	order(hosts, r.Spec.Order, r.EventID)
	p = Plan{
		EventID: r.EventID, Watch: r.Watch, Key: r.Key, Hosts: hosts,
		Max: r.Spec.Resolve(len(hosts)), HaltAt: r.Spec.HaltAfterFailures,
		Order: r.Spec.Order, LeaseS: r.Spec.lease().Seconds(), By: c.Host,
		Created: time.Now().UTC(), EventTime: r.EventTime,
	}
	if p.Order == "" {
		p.Order = OrderName
	}
	p.Canary = slices.Clone(hosts[:min(r.Spec.Canary, len(hosts))])
	b, _ := json.Marshal(p)
	if _, err := kv.Create(ctx, id.planKey(), b); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("rollout: store the plan: %w", err)
		}
		var won Plan
		if _, err := getJSON(ctx, kv, id.planKey(), &won); err != nil {
			return nil, err
		}
		return &won, nil
	}
	c.Log.Info().Str("event_id", r.EventID).Str("watch", r.Watch).Int("hosts", len(hosts)).Int("max_hosts", p.Max).
		Strs("canaries", p.Canary).Msg("rollout planned")
	return &p, nil
}

// order sorts hosts by name, or shuffles them by a hash of the event id and
// each name (the same order on every host).
func order(hosts []string, how, eventID string) {
	if how != OrderRandom {
		sort.Strings(hosts)
		return
	}
	key := func(h string) string {
		s := sha256.Sum256([]byte(eventID + "\x00" + h))
		return string(s[:])
	}
	sort.Slice(hosts, func(i, j int) bool { return key(hosts[i]) < key(hosts[j]) })
}

// autoHalt is why the gate calls for a halt, or "".
func (p *Plan) autoHalt(g Gate) string {
	if p.HaltAt > 0 && g.Failures-g.FailBase >= p.HaltAt {
		return fmt.Sprintf("%d failed runs (halt_after_failures: %d)", g.Failures-g.FailBase, p.HaltAt)
	}
	return ""
}

// halt stores an automatic halt, unless the rollout is halted already.
func (c *Coordinator) halt(ctx context.Context, kv jetstream.KeyValue, id ID, reason string) error {
	_, err := casGate(ctx, kv, id, func(g *Gate) bool {
		if g.Halt != nil {
			return false
		}
		g.Halt = &Halt{Reason: reason, By: c.Host, At: time.Now().UTC(), Auto: true}
		return true
	})
	if err == nil {
		c.Log.Warn().Str("event_id", id.EventID).Str("watch", id.Watch).Str("reason", reason).Msg("rollout halted")
	}
	return err
}

// halted records the host's final state halted.
func (c *Coordinator) halted(ctx context.Context, kv jetstream.KeyValue, id ID, canary bool, h Halt) error {
	he := &HaltedError{Halt: h}
	if err := c.putHost(ctx, kv, id, HostState{Host: c.Host, State: StateHalted, Canary: canary, Reason: he.Error()}, 0); err != nil {
		return c.waitErr(ctx, err)
	}
	return he
}

// lostCanary names a canary that has no state (it died before it ran,
// or left the fleet) or failed, when the gate has no record of it.
func (c *Coordinator) lostCanary(ctx context.Context, kv jetstream.KeyValue, id ID, p *Plan, g Gate) (string, error) {
	for _, h := range p.Canary {
		if slices.Contains(g.CanaryOK, h) {
			continue
		}
		var s HostState
		_, err := getJSON(ctx, kv, id.hostKey(h), &s)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
			return fmt.Sprintf("canary %s is gone: it has no state after two leases (%v)", h, 2*p.lease()), nil
		case err != nil:
			return "", err
		case s.State != StateWaiting && s.State != StateRunning && s.State != StateOK:
			return fmt.Sprintf("canary %s: %s", h, s.State), nil
		}
	}
	return "", nil
}

func (p *Plan) lease() time.Duration {
	if p.LeaseS <= 0 {
		return DefaultLease
	}
	return time.Duration(p.LeaseS * float64(time.Second))
}

// tryTurn takes a free turn, or returns nil when none is.
func (c *Coordinator) tryTurn(ctx context.Context, kv jetstream.KeyValue, id ID, p *Plan, lease time.Duration) (*Turn, error) {
	held := map[int]bool{}
	err := bus.LastMsgs(ctx, c.JS, Stream, []string{id.turnSubjects()}, func(m *jetstream.RawStreamMsg) error {
		if deleted(m) {
			return nil
		}
		if _, rest, ok := parseSubject(m.Subject); ok {
			if n, err := strconv.Atoi(rest[len("turn."):]); err == nil {
				held[n] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(held) >= p.Max {
		return nil, nil
	}
	off := rand.N(p.Max)
	for i := range p.Max {
		n := (off + i) % p.Max
		if held[n] {
			continue
		}
		rev, err := kv.Create(ctx, id.turnKey(n), []byte(c.Host), jetstream.KeyTTL(lease))
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			return nil, err
		}
		// Held. The gate counts the start, unless the rollout was halted
		// (or reached its failures) since it was read: then the turn goes
		// back. A failure is counted before its turn is freed, so a run
		// started on a freed turn always sees it.
		var stopped string
		_, err = casGate(ctx, kv, id, func(g *Gate) bool {
			if g.Halt != nil {
				stopped = "halted"
				return false
			}
			if p.autoHalt(*g) != "" {
				stopped = "failures"
				return false
			}
			g.Started++
			return true
		})
		if err != nil || stopped != "" {
			_ = kv.Delete(context.WithoutCancel(ctx), id.turnKey(n), jetstream.LastRevision(rev))
			if err != nil {
				return nil, err
			}
			return nil, nil // the loop sees the halt
		}
		t := &Turn{c: c, kv: kv, id: id, n: n, haltAt: p.HaltAt, lease: lease, rev: rev, Canary: p.isCanary(c.Host)}
		if err := c.putHost(ctx, kv, id, HostState{Host: c.Host, State: StateRunning, Canary: p.isCanary(c.Host), Turn: n + 1}, lease); err != nil {
			t.give(ctx)
			return nil, err
		}
		t.renew()
		return t, nil
	}
	return nil, nil
}

// renew keeps the turn and the running state alive until Finish.
func (t *Turn) renew() {
	ctx, cancel := context.WithCancel(context.Background())
	t.stop = cancel
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tick := time.NewTicker(t.lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rev, err := t.c.refresh(ctx, t.id.turnKey(t.n), t.rev, t.lease)
			if err == nil {
				t.rev = rev
			} else if ctx.Err() == nil {
				t.c.Log.Warn().Err(err).Str("event_id", t.id.EventID).Str("watch", t.id.Watch).
					Msg("rollout: cannot renew the turn's lease; another host may take it")
			}
			_ = t.c.putHost(ctx, t.kv, t.id, HostState{Host: t.c.Host, State: StateRunning, Canary: t.Canary, Turn: t.n + 1}, t.lease)
		}
	}()
}

// Finish records how the run ended (an outcome status) and gives the turn
// back: the final state first, then the gate (a failure counted, a canary
// done ok), then the turn, so that the host that takes the turn next
// sees this run's failure.
func (t *Turn) Finish(ctx context.Context, status string, exitCode *int) error {
	t.halt()
	ctx = context.WithoutCancel(ctx)
	err := t.c.putHost(ctx, t.kv, t.id, HostState{Host: t.c.Host, State: status, ExitCode: exitCode, Canary: t.Canary}, 0)
	_, gerr := casGate(ctx, t.kv, t.id, func(g *Gate) bool {
		g.Finished++
		g.LastFinished = time.Now().UTC()
		if failed(status) {
			g.Failures++
			if t.Canary && !slices.Contains(g.CanaryFailed, t.c.Host) {
				g.CanaryFailed = append(g.CanaryFailed, t.c.Host)
			}
			if g.Halt == nil && t.Canary {
				g.Halt = &Halt{Reason: fmt.Sprintf("canary %s: %s", t.c.Host, status), By: t.c.Host, At: g.LastFinished, Auto: true}
			}
			if g.Halt == nil && t.haltAt > 0 && g.Failures-g.FailBase >= t.haltAt {
				g.Halt = &Halt{Reason: fmt.Sprintf("%d failed runs (halt_after_failures: %d)", g.Failures-g.FailBase, t.haltAt), By: t.c.Host, At: g.LastFinished, Auto: true}
			}
		} else if t.Canary && status == StateOK && !slices.Contains(g.CanaryOK, t.c.Host) {
			g.CanaryOK = append(g.CanaryOK, t.c.Host)
		}
		return true
	})
	t.give(ctx)
	return errors.Join(err, gerr)
}

// Abandon gives the turn back without a final state: the run did not end
// (the agent stops; the event runs again when it is back).
func (t *Turn) Abandon() {
	t.halt()
	t.give(context.Background())
}

func (t *Turn) halt() {
	if t.stop != nil {
		t.stop()
		t.wg.Wait()
	}
}

func (t *Turn) give(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// Only our own revision: a turn whose lease ran out (a host cut off
	// from NATS for a lease) may be another host's by now.
	if err := t.kv.Delete(ctx, t.id.turnKey(t.n), jetstream.LastRevision(t.rev)); err != nil {
		t.c.Log.Warn().Err(err).Str("event_id", t.id.EventID).Str("watch", t.id.Watch).
			Msg("rollout: cannot give the turn back; it is free when its lease runs out")
	}
}

// putHost stores the host's state, with a TTL when ttl > 0.
func (c *Coordinator) putHost(ctx context.Context, kv jetstream.KeyValue, id ID, s HostState, ttl time.Duration) error {
	s.At = time.Now().UTC()
	b, _ := json.Marshal(s)
	if ttl <= 0 {
		_, err := kv.Put(ctx, id.hostKey(c.Host), b)
		return err
	}
	_, err := c.JS.PublishMsg(ctx, &nats.Msg{Subject: SubjectPrefix + id.hostKey(c.Host), Data: b}, jetstream.WithMsgTTL(ttl))
	return err
}

// refresh stores the turn key again with a new TTL, only if it is still
// at revision rev (ours), and returns its new revision.
func (c *Coordinator) refresh(ctx context.Context, key string, rev uint64, ttl time.Duration) (uint64, error) {
	ack, err := c.JS.PublishMsg(ctx, &nats.Msg{Subject: SubjectPrefix + key, Data: []byte(c.Host)},
		jetstream.WithMsgTTL(ttl), jetstream.WithExpectLastSequencePerSubject(rev))
	if err != nil {
		return 0, fmt.Errorf("%s is no longer this host's turn: %w", key, err)
	}
	return ack.Sequence, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Leave records the host's final state in a rollout it waited in but
// will not run (a newer event superseded it).
func (c *Coordinator) Leave(ctx context.Context, id ID, state string) error {
	kv, err := c.bucket(ctx)
	if err != nil {
		return err
	}
	return c.putHost(ctx, kv, id, HostState{Host: c.Host, State: state}, 0)
}

// Resumed returns nil once the rollout is no longer halted, or ctx's
// error. It reads the gate at each change of the rollout's keys and every
// few polls.
func (c *Coordinator) Resumed(ctx context.Context, id ID) error {
	kv, err := c.bucket(ctx)
	if err != nil {
		return err
	}
	wake, stop, err := c.follow(id)
	if err != nil {
		return err
	}
	defer stop()
	for {
		g, err := readGate(ctx, kv, id)
		if err == nil && g.Halt == nil && g.rev > 0 {
			return nil
		}
		t := time.NewTimer(5 * c.poll())
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// SetHalt halts the rollouts ids by hand, or (halt false) resumes them:
// hosts that have not started run the event, and those that were halted
// run it too (their agents wait for the resume unless a newer event of
// the key came). A resume counts failures afresh for halt_after_failures.
// It returns the rollouts changed.
func SetHalt(ctx context.Context, js jetstream.JetStream, ids []ID, halt bool, by, reason string) ([]ID, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if err != nil {
		return nil, fmt.Errorf("rollout bucket %s: %w", Bucket, err)
	}
	var changed []ID
	for _, id := range ids {
		now := time.Now().UTC()
		did := false
		_, err := casGate(ctx, kv, id, func(g *Gate) bool {
			did = false
			switch {
			case halt && g.Halt == nil:
				g.Halt = &Halt{Reason: reason, By: by, At: now}
			case !halt && g.Halt != nil:
				g.Halt, g.FailBase = nil, g.Failures
				// A person looked at the failed canaries and chose to go on.
				g.CanaryWaived = g.CanaryWaived || len(g.CanaryFailed) > 0
				g.Resumed = &Halt{Reason: reason, By: by, At: now}
			default:
				return false
			}
			did = true
			return true
		})
		if err != nil {
			return changed, err
		}
		if did {
			changed = append(changed, id)
		}
	}
	return changed, nil
}
