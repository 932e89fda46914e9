package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/callhooks"
	"github.com/nats-io/nats.go/jetstream"
)

// storeCheckInterval is how often the dispatcher checks that every stream
// and bucket it owns exists, and recreates the missing ones.
const storeCheckInterval = 2 * time.Second

// WithStoreCheck sets how often the dispatcher checks for missing streams
// and buckets instead of storeCheckInterval; tests use it.
func WithStoreCheck(every time.Duration) Option {
	return func(d *Dispatcher) { d.storeCheck = every }
}

// streamNames are the streams the dispatcher owns.
var streamNames = []string{events.EventsStream, events.OutcomesStream, events.AgentsStream}

// buckets are the key-value buckets the dispatcher owns.
func (d *Dispatcher) buckets() []jetstream.KeyValueConfig {
	return []jetstream.KeyValueConfig{d.handlers.BucketConfig(d.cfg.Streams.Replicas), callhooks.StatusBucketConfig(d.cfg.Streams.Replicas)}
}

// watchStores recreates a stream or bucket deleted by hand, every
// storeCheckInterval, until the dispatcher stops.
func (d *Dispatcher) watchStores(js jetstream.JetStream) {
	defer d.wg.Done()
	every := d.storeCheck
	if every <= 0 {
		every = storeCheckInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.runCtx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(d.runCtx, 10*time.Second)
			d.repairStores(ctx, js)
			cancel()
		}
	}
}

// missingStores names the streams and buckets that are not there. Other
// errors (NATS unreachable, a timeout) are not "missing" and are left to
// the next check.
func (d *Dispatcher) missingStores(ctx context.Context, js jetstream.JetStream) (streams, buckets []string) {
	for _, name := range streamNames {
		if _, err := js.Stream(ctx, name); errors.Is(err, jetstream.ErrStreamNotFound) {
			streams = append(streams, name)
		}
	}
	for _, b := range d.buckets() {
		if _, err := js.KeyValue(ctx, b.Bucket); errors.Is(err, jetstream.ErrBucketNotFound) {
			buckets = append(buckets, b.Bucket)
		}
	}
	return streams, buckets
}

// repairStores recreates what missingStores finds.
func (d *Dispatcher) repairStores(ctx context.Context, js jetstream.JetStream) {
	streams, buckets := d.missingStores(ctx, js)
	if len(streams) > 0 {
		d.log.Warn().Strs("streams", streams).Msg("streams missing; recreating them")
		if err := bus.EnsureStreams(ctx, js, d.cfg.Streams); err != nil {
			d.log.Error().Err(err).Strs("streams", streams).Msg("cannot recreate streams; retrying")
		} else {
			d.log.Info().Strs("streams", streams).Msg("streams recreated")
		}
	}
	for _, name := range buckets {
		if err := d.ensureBucket(ctx, js, name); err != nil {
			d.log.Error().Err(err).Str("bucket", name).Msg("cannot recreate bucket; retrying")
			continue
		}
		d.log.Info().Str("bucket", name).Msg("bucket missing; recreated")
	}
}

func (d *Dispatcher) ensureBucket(ctx context.Context, js jetstream.JetStream, name string) error {
	for _, b := range d.buckets() {
		if b.Bucket == name {
			if _, err := js.CreateOrUpdateKeyValue(ctx, b); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("bucket %s: not owned by the dispatcher", name)
}
