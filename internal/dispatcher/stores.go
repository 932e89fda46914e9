package dispatcher

import (
	"time"

	"github.com/heraldhq/herald/internal/callhooks"
	"github.com/heraldhq/herald/internal/rollout"
	"github.com/heraldhq/herald/internal/stores"
	"github.com/nats-io/nats.go/jetstream"
)

// WithStoreCheck sets how often the dispatcher checks for missing streams
// and buckets instead of stores.DefaultEvery; tests use it.
func WithStoreCheck(every time.Duration) Option {
	return func(d *Dispatcher) { d.storeCheck = every }
}

// keeper is the dispatcher's streams and buckets on js.
func (d *Dispatcher) keeper(js jetstream.JetStream) *stores.Keeper {
	return &stores.Keeper{
		JS:      js,
		Streams: d.cfg.Streams,
		Buckets: []jetstream.KeyValueConfig{d.handlers.BucketConfig(d.cfg.Streams.Replicas), callhooks.StatusBucketConfig(d.cfg.Streams.Replicas),
			rollout.BucketConfig(d.cfg.Streams.Replicas)},
		Log: d.log,
	}
}
