package watchrun

import "github.com/heraldhq/herald/events"

// superseded is what one delivery absorbed for one watch: the ids of the
// events it replaced before they ran (the newest last; only the last
// events.MaxSuperseded are reported) and how many in all. It moves from
// event to event along a chain of supersessions, so each step costs O(1).
type superseded struct {
	ids   []string
	count int
}

// add records one more absorbed event. The list is cut back to the
// newest MaxSuperseded when it reaches twice that, so trimming is
// amortised too.
func (s *superseded) add(id string) {
	s.ids = append(s.ids, id)
	s.count++
	if len(s.ids) >= 2*events.MaxSuperseded {
		n := copy(s.ids, s.ids[len(s.ids)-events.MaxSuperseded:])
		clear(s.ids[n:])
		s.ids = s.ids[:n]
	}
}

// merge adds what o absorbed.
func (s *superseded) merge(o *superseded) {
	for _, id := range o.ids {
		s.add(id)
	}
	s.count += o.count - len(o.ids)
}

// list is the newest MaxSuperseded ids, oldest first.
func (s *superseded) list() []string {
	if n := len(s.ids) - events.MaxSuperseded; n > 0 {
		return s.ids[n:]
	}
	return s.ids
}

// absorb records that old was superseded by d for watch, carrying forward
// what old had absorbed for that watch (older than old itself).
func (d *Delivery) absorb(watch string, old *Delivery) {
	carried := old.takeSuperseded(watch)
	d.supMu.Lock()
	defer d.supMu.Unlock()
	if d.sup == nil {
		d.sup = map[string]*superseded{}
	}
	// old and what it carried are older than what d holds already (the
	// events a catch-up read decided with d): they go first.
	older := carried
	if older == nil {
		older = &superseded{}
	}
	older.add(old.Event.ID)
	if s := d.sup[watch]; s != nil {
		older.merge(s)
	}
	d.sup[watch] = older
}

// takeSuperseded removes and returns what d absorbed for watch, or nil.
func (d *Delivery) takeSuperseded(watch string) *superseded {
	d.supMu.Lock()
	defer d.supMu.Unlock()
	s := d.sup[watch]
	delete(d.sup, watch)
	return s
}

// Supersedes records that d replaced the events ids (oldest first) for
// watch before they reached it: a catch-up read that found several events
// of one subject offers the newest and lists the others in its outcome.
func (d *Delivery) Supersedes(watch string, ids ...string) {
	if len(ids) == 0 {
		return
	}
	d.supMu.Lock()
	defer d.supMu.Unlock()
	if d.sup == nil {
		d.sup = map[string]*superseded{}
	}
	s := d.sup[watch]
	if s == nil {
		s = &superseded{}
		d.sup[watch] = s
	}
	for _, id := range ids {
		s.add(id)
	}
}
