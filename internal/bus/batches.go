package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Defaults of BatchRead.
const (
	// DefaultBatch is how many messages one batched direct get asks for.
	DefaultBatch = 256
	// DefaultBatchBytes bounds one batched direct get's answer. Always
	// set: without it the server reads its own options unlocked
	// (nats-server 2.15 getDirectRequest), a race with a configuration
	// reload.
	DefaultBatchBytes = 8 << 20
	// DefaultBatchTimeout bounds each request.
	DefaultBatchTimeout = 10 * time.Second
	// SyncQueueLen is the channel a client that reads with BatchRead and
	// LastMsgs needs for each synchronous subscription
	// (nats.SyncQueueLen): one answer holds at most DefaultBatch messages
	// and its end-of-batch, and nats.go's default channel of 65,536
	// (512 KiB, allocated per direct get) made an agent's periodic reads
	// most of what its garbage collector had to do.
	SyncQueueLen = 4 * DefaultBatch
)

// BatchRead reads a stream's messages in order with batched direct gets
// ($JS.API.DIRECT.GET.<stream>, answered by any replica): no consumer. A
// batch stops short of Batch messages at MaxBytes when messages are large,
// so only an empty batch ends the read: every message from the start to
// UpTo (or the stream's end) is read once.
type BatchRead struct {
	Stream string
	// Subject filters the messages (empty: all).
	Subject string
	// Seq is the first sequence to read; with Seq 0, StartTime is the
	// first message's time (zero: the stream's first message).
	Seq       uint64
	StartTime time.Time
	// UpTo, when above 0, is the last sequence read.
	UpTo uint64
	// Batch, MaxBytes and Timeout are the defaults when 0.
	Batch    int
	MaxBytes int
	Timeout  time.Duration
}

// ErrStopRead, returned by Each's fn, ends the read without an error.
var ErrStopRead = errors.New("stop reading")

// Each calls fn with every message read, in stream order, and returns the
// sequence after the last one (where a next read starts; Seq when none
// was read). An error of fn other than ErrStopRead ends the read with it.
func (r BatchRead) Each(ctx context.Context, js jetstream.JetStream, fn func(*jetstream.RawStreamMsg) error) (uint64, error) {
	batch, maxBytes, timeout := r.Batch, r.MaxBytes, r.Timeout
	if batch <= 0 {
		batch = DefaultBatch
	}
	if maxBytes <= 0 {
		maxBytes = DefaultBatchBytes
	}
	if timeout <= 0 {
		timeout = DefaultBatchTimeout
	}
	next := r.Seq
	for {
		opts := []jetstreamext.GetBatchOpt{jetstreamext.GetBatchMaxBytes(maxBytes)}
		switch {
		case next > 0:
			opts = append(opts, jetstreamext.GetBatchSeq(next))
		case !r.StartTime.IsZero():
			opts = append(opts, jetstreamext.GetBatchStartTime(r.StartTime))
		default:
			opts = append(opts, jetstreamext.GetBatchSeq(1))
		}
		if r.Subject != "" {
			opts = append(opts, jetstreamext.GetBatchSubject(r.Subject))
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		it, err := jetstreamext.GetBatch(rctx, js, r.Stream, batch, opts...)
		n, done := 0, false
		var ferr error
		if err == nil {
			for m, ierr := range it {
				if ierr != nil {
					err = ierr
					break
				}
				if r.UpTo > 0 && m.Sequence > r.UpTo {
					done = true
					break
				}
				n++
				next = m.Sequence + 1
				if ferr = fn(m); ferr != nil {
					break
				}
			}
		}
		cancel()
		switch {
		case errors.Is(ferr, ErrStopRead):
			return next, nil
		case ferr != nil:
			return next, ferr
		case errors.Is(err, jetstreamext.ErrNoMessages):
			return next, nil
		case err != nil:
			return next, fmt.Errorf("read %s: %w", r.Stream, err)
		case n == 0 || done || (r.UpTo > 0 && next > r.UpTo):
			return next, nil
		}
	}
}

// Count is how many messages of subject (a filter) the stream holds from
// seq on, with one direct get of one message ($JS.API.DIRECT.GET, batch 1,
// whose answer carries Nats-Num-Pending): one request through the
// connection's shared reply subscription, so that an agent counting every
// few seconds allocates no subscription of its own (a batched read's
// SubscribeSync holds a 64k-message channel, 512 KiB, per call).
func Count(ctx context.Context, js jetstream.JetStream, stream, subject string, seq uint64) (uint64, error) {
	body, err := json.Marshal(struct {
		Seq      uint64 `json:"seq"`
		NextFor  string `json:"next_by_subj,omitempty"`
		Batch    int    `json:"batch"`
		MaxBytes int    `json:"max_bytes"`
	}{Seq: max(seq, 1), NextFor: subject, Batch: 1, MaxBytes: DefaultBatchBytes})
	if err != nil {
		return 0, err
	}
	m, err := js.Conn().RequestWithContext(ctx, directGetSubject(js, stream), body)
	if err != nil {
		return 0, fmt.Errorf("stream %s: count: %w", stream, err)
	}
	switch status := m.Header.Get("Status"); status {
	case "":
	case "404":
		return 0, nil
	default:
		return 0, fmt.Errorf("stream %s: count: %s %s", stream, status, m.Header.Get("Description"))
	}
	np, err := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stream %s: count: direct get without Nats-Num-Pending: %w", stream, err)
	}
	return 1 + np, nil
}
