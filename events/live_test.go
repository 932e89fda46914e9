package events_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
)

func TestAnnouncement_Live(t *testing.T) {
	hb := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	stale := time.Duration(events.StaleAfter) * 10 * time.Second // Interval 10 s
	tests := []struct {
		name string
		a    events.Announcement
		now  time.Time
		want bool
	}{
		{"fresh", events.Announcement{Heartbeat: hb, Interval: 10}, hb.Add(time.Second), true},
		{"at the heartbeat", events.Announcement{Heartbeat: hb, Interval: 10}, hb, true},
		{"heartbeat in the future", events.Announcement{Heartbeat: hb, Interval: 10}, hb.Add(-time.Hour), true},
		{"exactly StaleAfter intervals old", events.Announcement{Heartbeat: hb, Interval: 10}, hb.Add(stale), true},
		{"just past StaleAfter intervals", events.Announcement{Heartbeat: hb, Interval: 10}, hb.Add(stale + time.Nanosecond), false},
		{"one interval short of stale", events.Announcement{Heartbeat: hb, Interval: 10}, hb.Add(stale - 10*time.Second), true},
		{"fractional interval", events.Announcement{Heartbeat: hb, Interval: 0.5}, hb.Add(1500 * time.Millisecond), true},
		{"fractional interval past", events.Announcement{Heartbeat: hb, Interval: 0.5}, hb.Add(1501 * time.Millisecond), false},
		{"no interval never goes stale", events.Announcement{Heartbeat: hb}, hb.Add(1000 * time.Hour), true},
		{"negative interval never goes stale", events.Announcement{Heartbeat: hb, Interval: -1}, hb.Add(1000 * time.Hour), true},
		{"zero heartbeat with an interval", events.Announcement{Interval: 10}, hb, false},
		{"stopping and fresh", events.Announcement{Heartbeat: hb, Interval: 10, Stopping: true}, hb, false},
		{"stopping without an interval", events.Announcement{Heartbeat: hb, Stopping: true}, hb, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Live(tt.now); got != tt.want {
				t.Errorf("Live(heartbeat%+v) = %v, want %v", tt.now.Sub(tt.a.Heartbeat), got, tt.want)
			}
		})
	}
}
