package bus

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Multi-last direct gets: the server answers one with at most
// maxMultiLastSubjects subjects (more is a 413), and LastMsgs asks for
// lastMsgsBatch messages a request.
const (
	maxMultiLastSubjects = 1024
	lastMsgsBatch        = 256
	// lastMsgsIdle bounds the wait for the next answer of a request
	// (besides ctx): a replica that stops answering mid-batch.
	lastMsgsIdle = 5 * time.Second
)

// errTooManySubjects is the server's 413: the filters match more subjects
// than one multi-last get may answer.
var errTooManySubjects = errors.New("too many subjects for one multi-last get")

// LastMsgs calls fn with the latest message of every subject of stream
// that matches one of filters, in stream order, then returns. It reads
// with multi-last direct gets ($JS.API.DIRECT.GET.<stream>, answered by
// any replica) after one stream info: no consumer is created, so a client
// needs no consumer API for it. Filters that match more subjects than one
// request may answer are read by listing the subjects (stream info with a
// subject filter) and asking for them in groups. A stream without
// AllowDirect cannot be read so.
func LastMsgs(ctx context.Context, js jetstream.JetStream, stream string, filters []string, fn func(*jetstream.RawStreamMsg) error) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	info := s.CachedInfo()
	if info.State.Msgs == 0 {
		return nil
	}
	if len(filters) == 0 {
		filters = []string{">"}
	}
	delivered := false
	err = multiLast(ctx, js, stream, filters, func(m *jetstream.RawStreamMsg) error { delivered = true; return fn(m) })
	if !errors.Is(err, errTooManySubjects) || delivered {
		return err
	}
	var msgs []*jetstream.RawStreamMsg
	collect := func(m *jetstream.RawStreamMsg) error { msgs = append(msgs, m); return nil }
	// Too many subjects: list them and read them in groups. Each group is
	// its own snapshot, so the messages are put in stream order at the end.
	var subjects []string
	for _, f := range filters {
		si, err := s.Info(ctx, jetstream.WithSubjectFilter(f))
		if err != nil {
			return fmt.Errorf("stream %s: subjects of %s: %w", stream, f, err)
		}
		for subj := range si.State.Subjects {
			subjects = append(subjects, subj)
		}
	}
	slices.Sort(subjects)
	subjects = slices.Compact(subjects) // filters may overlap
	for group := range slices.Chunk(subjects, maxMultiLastSubjects) {
		if err := multiLast(ctx, js, stream, group, collect); err != nil {
			return err
		}
	}
	slices.SortFunc(msgs, func(a, b *jetstream.RawStreamMsg) int { return cmp.Compare(a.Sequence, b.Sequence) })
	for _, m := range msgs {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// multiLastRequest is the body of a multi-last direct get.
type multiLastRequest struct {
	MultiLast []string `json:"multi_last"`
	Batch     int      `json:"batch"`
	Seq       uint64   `json:"seq,omitempty"`       // skip messages below
	UpToSeq   uint64   `json:"up_to_seq,omitempty"` // the first page's snapshot
}

// multiLast reads the last message of each subject of filters in pages of
// lastMsgsBatch, each page from the sequence after the previous one and
// up to the sequence the first page was taken at.
func multiLast(ctx context.Context, js jetstream.JetStream, stream string, filters []string, fn func(*jetstream.RawStreamMsg) error) error {
	req := multiLastRequest{MultiLast: filters, Batch: lastMsgsBatch}
	for {
		last, eob, err := directPage(ctx, js, stream, req, fn)
		if err != nil || eob.pending == 0 || last == 0 {
			return err
		}
		req.Seq, req.UpToSeq = last+1, eob.upTo
	}
}

// endOfBatch is what a batch's closing message says.
type endOfBatch struct{ pending, upTo uint64 }

// directPage sends one multi-last request and calls fn for each message
// of the answer, returning the last sequence delivered and the end of
// batch. "No results" is an empty page.
func directPage(ctx context.Context, js jetstream.JetStream, stream string, req multiLastRequest, fn func(*jetstream.RawStreamMsg) error) (uint64, endOfBatch, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, endOfBatch{}, err
	}
	nc := js.Conn()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return 0, endOfBatch{}, fmt.Errorf("stream %s: direct get: %w", stream, err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // best effort
	if err := nc.PublishRequest(directGetSubject(js, stream), inbox, body); err != nil {
		return 0, endOfBatch{}, fmt.Errorf("stream %s: direct get: %w", stream, err)
	}
	var last uint64
	for {
		wctx, cancel := context.WithTimeout(ctx, lastMsgsIdle)
		m, err := sub.NextMsgWithContext(wctx)
		cancel()
		if err != nil {
			return last, endOfBatch{}, fmt.Errorf("stream %s: direct get: %w", stream, err)
		}
		switch status := m.Header.Get("Status"); status {
		case "":
		case "204": // end of batch
			return last, endOfBatch{pending: headerUint(m, "Nats-Num-Pending"), upTo: headerUint(m, "Nats-UpTo-Sequence")}, nil
		case "404":
			return last, endOfBatch{}, nil
		case "413":
			return last, endOfBatch{}, errTooManySubjects
		case "503":
			return last, endOfBatch{}, fmt.Errorf("stream %s: direct get: %w", stream, nats.ErrNoResponders)
		default:
			return last, endOfBatch{}, fmt.Errorf("stream %s: direct get: %s %s", stream, status, m.Header.Get("Description"))
		}
		rm, err := rawMsg(m)
		if err != nil {
			return last, endOfBatch{}, fmt.Errorf("stream %s: direct get: %w", stream, err)
		}
		last = rm.Sequence
		if err := fn(rm); err != nil {
			return last, endOfBatch{}, err
		}
	}
}

// rawMsg is a direct get's answer as the stored message.
func rawMsg(m *nats.Msg) (*jetstream.RawStreamMsg, error) {
	subj := m.Header.Get(jetstream.SubjectHeader)
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if subj == "" || err != nil {
		return nil, fmt.Errorf("answer without subject or sequence (%q, %q)", subj, m.Header.Get(jetstream.SequenceHeader))
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer))
	if err != nil {
		return nil, fmt.Errorf("answer with a bad timestamp: %w", err)
	}
	return &jetstream.RawStreamMsg{Subject: subj, Sequence: seq, Header: m.Header, Data: m.Data, Time: ts}, nil
}

func headerUint(m *nats.Msg, key string) uint64 {
	n, _ := strconv.ParseUint(m.Header.Get(key), 10, 64)
	return n
}

// directGetSubject is the direct get API subject of stream, under the
// JetStream context's API prefix or domain.
func directGetSubject(js jetstream.JetStream, stream string) string {
	o := js.Options()
	switch {
	case o.APIPrefix != "":
		p := o.APIPrefix
		if p[len(p)-1] != '.' {
			p += "."
		}
		return p + "DIRECT.GET." + stream
	case o.Domain != "":
		return "$JS." + o.Domain + ".API.DIRECT.GET." + stream
	}
	// Herald's binaries use the default API prefix.
	return "$JS.API.DIRECT.GET." + stream
}
