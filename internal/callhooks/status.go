package callhooks

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/heraldhq/herald/events/call"
	"github.com/nats-io/nats.go/jetstream"
)

// Status is the engine's state as herald status shows it.
func (e *Engine) Status(stopping bool) call.HooksStatus {
	set := e.Current()
	st := call.HooksStatus{
		Dispatcher: e.cfg.Host, HooksDisabled: e.cfg.Disabled, Dir: e.cfg.Dir,
		Hooks: map[string][]string{}, Stopping: stopping, Time: time.Now().UTC(),
	}
	for _, h := range set.Hooks {
		st.Hooks[h.Phase] = append(st.Hooks[h.Phase], h.Name)
	}
	for name := range set.Jobs {
		st.Jobs = append(st.Jobs, name)
	}
	sort.Strings(st.Jobs)
	if len(set.Broken) > 0 {
		st.Broken = set.Broken
	}
	return st
}

// StatusBucketConfig is the status bucket (call.StatusBucket) the engine
// creates, with replicas copies (0 means 1); the dispatcher recreates it
// from this when it is gone.
func StatusBucketConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      call.StatusBucket,
		Description: "herald call hooks engine state per dispatcher (herald status)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	}
}

// publishStatus puts the engine's state in the status bucket, creating the
// bucket if needed.
func (e *Engine) publishStatus(rt *runtime, stopping bool) {
	data, err := json.Marshal(e.Status(stopping))
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(rt.ctx), 5*time.Second)
	defer cancel()
	kv, err := rt.js.CreateOrUpdateKeyValue(ctx, StatusBucketConfig(e.cfg.Replicas))
	if err == nil {
		_, err = kv.Put(ctx, call.StatusKey(e.cfg.Host), data)
	}
	if err != nil {
		rt.log.Warn().Err(err).Msg("cannot store the call hooks status")
	}
}
