package agent

import "github.com/heraldhq/herald/events"

// superseded is what one delivery absorbed for one watch: the ids of the
// events it replaced before they ran (the newest last, at most
// events.MaxSuperseded) and how many in all.
type superseded struct {
	ids   []string
	count int
}

// add records id and then what it had absorbed itself.
func (s *superseded) add(id string, carried *superseded) {
	if carried != nil {
		s.ids = append(s.ids, carried.ids...)
		s.count += carried.count
	}
	s.ids = append(s.ids, id)
	s.count++
	if n := len(s.ids) - events.MaxSuperseded; n > 0 {
		s.ids = append(s.ids[:0:0], s.ids[n:]...)
	}
}

// absorb records that old was superseded by d for watch, carrying forward
// what old had absorbed for that watch.
func (d *delivery) absorb(watch string, old *delivery) {
	carried := old.takeSuperseded(watch)
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
	s.add(old.ev.ID, carried)
}

// takeSuperseded removes and returns what d absorbed for watch, or nil.
func (d *delivery) takeSuperseded(watch string) *superseded {
	d.supMu.Lock()
	defer d.supMu.Unlock()
	s := d.sup[watch]
	delete(d.sup, watch)
	return s
}
