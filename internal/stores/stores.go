// Package stores keeps the dispatcher's streams and buckets in place: which
// ones it owns, whether each is there (for /healthz), and the loop that
// recreates one deleted by hand. It knows nothing of what the streams
// carry, who reads them or how the dispatcher serves HTTP.
package stores

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// DefaultEvery is how often Run checks that every stream and bucket
// exists.
const DefaultEvery = 2 * time.Second

// StreamNames are the streams a dispatcher owns.
var StreamNames = []string{events.EventsStream, events.OutcomesStream, events.AgentsStream}

// Keeper holds the streams (bus.EnsureStreams with Streams) and Buckets
// of one dispatcher.
type Keeper struct {
	JS      jetstream.JetStream
	Streams bus.StreamConfig
	Buckets []jetstream.KeyValueConfig
	Log     zerolog.Logger
}

// Check returns "ok" or the error of every stream and bucket, and the
// first error.
func (k *Keeper) Check(ctx context.Context) (streams, buckets map[string]string, err error) {
	streams, buckets = map[string]string{}, map[string]string{}
	for _, name := range StreamNames {
		streams[name] = "ok"
		if _, serr := k.JS.Stream(ctx, name); serr != nil {
			streams[name] = serr.Error()
			err = cmpOr(err, fmt.Errorf("stream %s: %v", name, serr))
		}
	}
	for _, b := range k.Buckets {
		buckets[b.Bucket] = "ok"
		if _, berr := k.JS.KeyValue(ctx, b.Bucket); berr != nil {
			buckets[b.Bucket] = berr.Error()
			err = cmpOr(err, fmt.Errorf("bucket %s: %v", b.Bucket, berr))
		}
	}
	return streams, buckets, err
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// EnsureBuckets creates every bucket; one that cannot be created yet is
// logged and left to Run, which retries.
func (k *Keeper) EnsureBuckets(ctx context.Context) {
	for _, b := range k.Buckets {
		if err := k.EnsureBucket(ctx, b.Bucket); err != nil {
			k.Log.Warn().Err(err).Str("bucket", b.Bucket).Msg("cannot create bucket yet; retrying")
		}
	}
}

// EnsureBucket creates or updates the bucket called name.
func (k *Keeper) EnsureBucket(ctx context.Context, name string) error {
	for _, b := range k.Buckets {
		if b.Bucket == name {
			if _, err := k.JS.CreateOrUpdateKeyValue(ctx, b); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("bucket %s: not owned by the dispatcher", name)
}

// Run recreates a stream or bucket deleted by hand, every every
// (DefaultEvery when zero), until ctx ends.
func (k *Keeper) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			k.repair(cctx)
			cancel()
		}
	}
}

// missing names the streams and buckets that are not there. Other errors
// (NATS unreachable, a timeout) are not "missing" and are left to the
// next check.
func (k *Keeper) missing(ctx context.Context) (streams, buckets []string) {
	for _, name := range StreamNames {
		if _, err := k.JS.Stream(ctx, name); errors.Is(err, jetstream.ErrStreamNotFound) {
			streams = append(streams, name)
		}
	}
	for _, b := range k.Buckets {
		if _, err := k.JS.KeyValue(ctx, b.Bucket); errors.Is(err, jetstream.ErrBucketNotFound) {
			buckets = append(buckets, b.Bucket)
		}
	}
	return streams, buckets
}

// repair recreates what missing finds.
func (k *Keeper) repair(ctx context.Context) {
	streams, buckets := k.missing(ctx)
	if len(streams) > 0 {
		k.Log.Warn().Strs("streams", streams).Msg("streams missing; recreating them")
		if err := bus.EnsureStreams(ctx, k.JS, k.Streams); err != nil {
			k.Log.Error().Err(err).Strs("streams", streams).Msg("cannot recreate streams; retrying")
		} else {
			k.Log.Info().Strs("streams", streams).Msg("streams recreated")
		}
	}
	for _, name := range buckets {
		if err := k.EnsureBucket(ctx, name); err != nil {
			k.Log.Error().Err(err).Str("bucket", name).Msg("cannot recreate bucket; retrying")
			continue
		}
		k.Log.Info().Str("bucket", name).Msg("bucket missing; recreated")
	}
}
