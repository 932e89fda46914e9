package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/heraldhq/herald/events"
)

// Targets of the ZooKeeper source (issue 3).
var (
	targetZKLat1    = &target{op: "<=", value: 3, unit: "ms"}
	targetZKLat20   = &target{op: "<=", value: 20, unit: "ms"}
	targetZKWatched = &target{op: "<=", value: 10, unit: "s"}
	targetZKRSS     = &target{op: "<=", value: 100, unit: "MB"}
)

const (
	// zkLatNode is the znode the zklat scenarios set.
	zkLatNode = "/bench/head"
	// zkWatchingLine is what the dispatcher logs when it starts watching a
	// path (here: the one the agents declared).
	zkWatchingLine = "zk: watching"
	// zkWatchedLine is what the dispatcher logs once every configured
	// znode is read, watched and published.
	zkWatchedLine = "zk: watches set"
	// zkScaleGroups × zkScalePer leaves under /scale: with the groups and
	// the root, zkScaleNodes znodes are watched.
	zkScaleGroups = 100
	zkScalePer    = 100
	zkScaleNodes  = zkScaleGroups*zkScalePer + zkScaleGroups + 1
	// zkWatchTimeout bounds waiting for the dispatcher to watch.
	zkWatchTimeout = 5 * time.Minute
)

var zkOpenACL = zk.WorldACL(zk.PermAll)

// zkWatchYAML is a queue-mode watch of one znode running /bin/true.
func zkWatchYAML(name, path string) string {
	return fmt.Sprintf(`  - name: %s
    on: zk:%s
    exec: ["/bin/true"]
    run_on_load: false
`, name, path)
}

// startZK starts the run's ZooKeeper and opens the bench's session to it.
func (r *benchRun) startZK(ctx context.Context, forceSync bool) error {
	z, err := startZooKeeper(ctx, filepath.Join(r.dir, "zookeeper"), forceSync)
	if err != nil {
		return err
	}
	r.zk = z
	if r.zc, err = z.connect(ctx); err != nil {
		return err
	}
	return nil
}

// zkVersionPrefix is how the version of a zk.changed event for a znode
// write with this mzxid starts: the ZooKeeper source writes
// m<mzxid>.v<data version>.c<czxid>, zxids in hex with 0x (see
// internal/source/zk/version.go), and an outcome carries its event's
// version.
func zkVersionPrefix(mzxid int64) string { return fmt.Sprintf("m0x%x.", mzxid) }

// setAndWait sets zkLatNode to data and waits for one ok outcome of that
// write from each of hosts agents. set is the wall time just before the
// Set call, returned when it returned. Outcomes of earlier writes (the
// dispatcher's first read of the znode) are skipped.
func (r *benchRun) setAndWait(ctx context.Context, ch <-chan outcomeAt, data []byte, hosts int) (set, returned time.Time, outs []outcomeAt, err error) {
	ctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	set = time.Now()
	st, err := r.zc.Set(zkLatNode, data, -1)
	returned = time.Now()
	if err != nil {
		return set, returned, nil, fmt.Errorf("set %s: %w", zkLatNode, err)
	}
	want := zkVersionPrefix(st.Mzxid)
	seen := map[string]bool{}
	for len(outs) < hosts {
		select {
		case o := <-ch:
			switch {
			case o.Key != zkLatNode:
				return set, returned, nil, fmt.Errorf("outcome for unexpected key %q (event %s)", o.Key, o.EventID)
			case !strings.HasPrefix(o.Version, want):
				continue // an earlier write's
			case o.Status != events.StatusOK:
				return set, returned, nil, fmt.Errorf("version %s on %s: status %s %s", o.Version, o.Host, o.Status, o.Error)
			case seen[o.Host]:
				return set, returned, nil, fmt.Errorf("version %s decided twice on %s", o.Version, o.Host)
			}
			seen[o.Host] = true
			outs = append(outs, o)
		case <-ctx.Done():
			return set, returned, nil, fmt.Errorf("mzxid 0x%x: %d of %d outcomes within %v: %w", st.Mzxid, len(outs), hosts, sampleTimeout, ctx.Err())
		}
	}
	return set, returned, outs, nil
}

// zkLatency measures znode set to action start with agents agents, each
// with a watch on zkLatNode that the dispatcher learns from their
// announcements. One agent: zklat1; more: zklat20 (all started).
func zkLatency(ctx context.Context, r *benchRun, cfg Config, sc string, agents, warmup, samples int) ([]result, error) {
	if err := r.startZK(ctx, cfg.ZKForceSync); err != nil {
		return nil, err
	}
	for _, p := range []string{"/bench", zkLatNode} {
		if _, err := r.zc.Create(p, []byte("init"), 0, zkOpenACL); err != nil {
			return nil, fmt.Errorf("create %s: %w", p, err)
		}
	}
	if err := r.startDispatcher(ctx, 0, zkWatchingLine, "--zk", r.zk.addr()); err != nil {
		return nil, err
	}
	specs := make([]agentSpec, agents)
	for i := range specs {
		var err error
		if specs[i], err = r.newAgentSpec(fmt.Sprintf("bench-zk-%02d", i+1), "watches:\n"+zkWatchYAML("head", zkLatNode)); err != nil {
			return nil, err
		}
	}
	ch, err := r.outcomeChan()
	if err != nil {
		return nil, err
	}
	if _, err := r.startAgents(ctx, specs...); err != nil {
		return nil, err
	}
	if err := waitHit(ctx, r.disp, zkWatchingLine, readyTimeout); err != nil {
		return nil, err
	}
	var all, first, zkSet []float64
	for i := range warmup + samples {
		set, returned, outs, err := r.setAndWait(ctx, ch, []byte("rev-"+strconv.Itoa(i)), agents)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		if i < warmup {
			continue
		}
		hi, lo := 0.0, -1.0
		for _, o := range outs {
			l := ms(o.Start.Sub(set))
			hi = max(hi, l)
			if lo < 0 || l < lo {
				lo = l
			}
		}
		all = append(all, hi)
		first = append(first, lo)
		zkSet = append(zkSet, ms(returned.Sub(set)))
	}
	a, f, z := summarize(all), summarize(first), summarize(zkSet)
	label := "set→action start"
	if agents > 1 {
		label = fmt.Sprintf("set→all %d started", agents)
	}
	tgt := targetZKLat1
	if agents > 1 {
		tgt = targetZKLat20
	}
	out := []result{
		num(sc, label+" p50", a.p50, "ms", tgt),
		num(sc, label+" p90", a.p90, "ms", nil),
		num(sc, label+" p99", a.p99, "ms", nil),
		num(sc, label+" max", a.max, "ms", nil),
	}
	if agents > 1 {
		out = append(out, num(sc, "set→first started p50", f.p50, "ms", nil))
	}
	return append(out,
		num(sc, "ZooKeeper Set round trip p50", z.p50, "ms", nil),
		num(sc, "samples", float64(len(all)), "", nil),
	), nil
}

// waitHit waits for the first log line of p containing marker.
func waitHit(ctx context.Context, p *proc, marker string, within time.Duration) error {
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-p.log.hit:
		return nil
	case <-p.done:
		return fmt.Errorf("%s exited before it logged %q: %v (log %s)", p.name, marker, p.err, p.logPath)
	case <-t.C:
		return fmt.Errorf("%s did not log %q within %v (log %s)", p.name, marker, within, p.logPath)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// populateScale creates zkScaleGroups groups of zkScalePer leaves under
// /scale, one multi-op transaction per group.
func (r *benchRun) populateScale() error {
	if _, err := r.zc.Create("/scale", nil, 0, zkOpenACL); err != nil {
		return fmt.Errorf("create /scale: %w", err)
	}
	for g := range zkScaleGroups {
		group := fmt.Sprintf("/scale/g%03d", g)
		ops := []any{&zk.CreateRequest{Path: group, Acl: zkOpenACL}}
		for i := range zkScalePer {
			ops = append(ops, &zk.CreateRequest{Path: fmt.Sprintf("%s/n%03d", group, i), Data: []byte("v" + strconv.Itoa(i)), Acl: zkOpenACL})
		}
		if _, err := r.zc.Multi(ops...); err != nil {
			return fmt.Errorf("create %s: %w", group, err)
		}
	}
	return nil
}

// watchedLine is the fields of the dispatcher's "zk: watches set" line.
type watchedLine struct {
	Time      time.Time `json:"time"`
	Znodes    int       `json:"znodes"`
	Published uint64    `json:"published"`
	// TookMS is the load's own time, from the source's start, in
	// milliseconds; binaries before the *_ms log fields wrote it as Took.
	TookMS float64 `json:"took_ms"`
	Took   float64 `json:"took"`
}

// tookMS is the load's time in milliseconds, from either field.
func (l watchedLine) tookMS() float64 {
	if l.TookMS != 0 {
		return l.TookMS
	}
	return l.Took
}

// zkScale measures a dispatcher watching /scale/** with zkScaleNodes
// znodes: time from its start to "zk: watches set" and its resident
// memory once settled, on a first start (an empty store: every znode is
// published) and on a restart with the same store (nothing changed:
// nothing is published).
func zkScale(ctx context.Context, r *benchRun, cfg Config) ([]result, error) {
	if err := r.startZK(ctx, cfg.ZKForceSync); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := r.populateScale(); err != nil {
		return nil, err
	}
	fmt.Fprintf(r.h.stderr, "bench:   created %d znodes in %v\n", zkScaleNodes, time.Since(t0).Round(time.Millisecond))
	sc := scZKScale
	var out []result
	for _, round := range []string{"first start", "restart"} {
		if round == "restart" {
			r.stopDispatcher()
		}
		if err := r.startDispatcher(ctx, 0, zkWatchedLine, "--zk", r.zk.addr(), "--zk-watch", "/scale/**"); err != nil {
			return out, fmt.Errorf("%s: %w", round, err)
		}
		if err := waitHit(ctx, r.disp, zkWatchedLine, zkWatchTimeout); err != nil {
			return out, fmt.Errorf("%s: %w", round, err)
		}
		var l watchedLine
		if err := json.Unmarshal([]byte(r.disp.log.hitLine()), &l); err != nil || l.Time.IsZero() {
			return out, fmt.Errorf("%s: bad %q line %q: %v", round, zkWatchedLine, r.disp.log.hitLine(), err)
		}
		if l.Znodes != zkScaleNodes {
			return out, fmt.Errorf("%s: dispatcher watches %d znodes, want %d", round, l.Znodes, zkScaleNodes)
		}
		rss, err := stableRSS(ctx, r.disp.cmd.Process.Pid)
		if err != nil {
			return out, fmt.Errorf("%s: dispatcher: %w", round, err)
		}
		hwm, err := procStatusKiB(r.disp.cmd.Process.Pid, "VmHWM:")
		if err != nil {
			return out, fmt.Errorf("%s: dispatcher: %w", round, err)
		}
		var watchedTarget, rssTarget *target
		if round == "first start" {
			watchedTarget, rssTarget = targetZKWatched, targetZKRSS
		}
		out = append(out,
			num(sc, round+": dispatcher start→all watched", l.Time.Sub(r.dispStarted).Seconds(), "s", watchedTarget),
			num(sc, round+": source load (zk start→all watched)", l.tookMS()/1000, "s", nil),
			num(sc, round+": dispatcher RSS settled", mb(rss), "MB", rssTarget),
			num(sc, round+": dispatcher peak RSS (VmHWM)", mb(float64(hwm)/1024), "MB", nil),
			num(sc, round+": events published", float64(l.Published), "", nil),
		)
	}
	return append(out, num(sc, "znodes watched", zkScaleNodes, "", nil)), nil
}

// mb converts MiB to MB (10^6 bytes).
func mb(mib float64) float64 { return mib * (1 << 20) / 1e6 }

// errNoField: a /proc status file lacks the field asked for.
var errNoField = errors.New("no such field")
