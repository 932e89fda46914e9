package feed_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
)

// TestFeed_ReadPastTheByteLimitLosesNothing: a batched direct get stops at
// its byte limit (8 MiB) before its 256 messages when events are large; a
// short batch is not the end of what the stream holds. 400 events of 48 KiB
// published while the agent is down all reach it at its start.
func TestFeed_ReadPastTheByteLimitLosesNothing(t *testing.T) {
	e := newEnv(t)
	flt := events.EventPrefix + ".deploy.>"
	r := &recorder{auto: true}
	_, stop := e.start(t, r, flt)
	stop()
	data := []byte(strings.Repeat("x", 48<<10))
	var want []uint64
	for i := range 400 {
		ev := events.New("test", "deploy", fmt.Sprintf("/big/%03d", i), data)
		ev.Time = time.Now()
		ack, err := bus.PublishEvent(context.Background(), e.js, ev)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ack.Sequence)
	}
	r2 := &recorder{auto: true}
	e.start(t, r2, flt)
	waitSeqs(t, r2, want)
}
