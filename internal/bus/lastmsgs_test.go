package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// runReaderServer starts a server with an admin user and a reader whose
// permissions hold no consumer API at all: only stream info and direct
// gets, as an agent's.
func runReaderServer(t *testing.T) (admin, reader jetstream.JetStream) {
	t.Helper()
	s := testutil.RunNATSWithOptions(t, &server.Options{Users: []*server.User{
		{Username: "admin", Password: "a"},
		{Username: "reader", Password: "r", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.STREAM.INFO.>", "$JS.API.DIRECT.GET.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
		}},
	}})
	js := func(user, pw string) jetstream.JetStream {
		j, err := jetstream.New(testutil.Connect(t, s, nats.UserInfo(user, pw)))
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	admin, reader = js("admin", "a"), js("reader", "r")
	if err := bus.EnsureStreams(context.Background(), admin, bus.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	return admin, reader
}

// read returns what LastMsgs gives, subject → data, and the sequences in
// the order it gave them.
func read(t *testing.T, js jetstream.JetStream, filters ...string) (map[string]string, []uint64) {
	t.Helper()
	got := map[string]string{}
	var seqs []uint64
	err := bus.LastMsgs(context.Background(), js, events.EventsStream, filters, func(m *jetstream.RawStreamMsg) error {
		if _, dup := got[m.Subject]; dup {
			t.Errorf("%s given twice", m.Subject)
		}
		got[m.Subject] = string(m.Data)
		seqs = append(seqs, m.Sequence)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, seqs
}

func inOrder(t *testing.T, seqs []uint64) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("sequences not in stream order at %d: %d after %d", i, seqs[i], seqs[i-1])
		}
	}
}

// LastMsgs reads the newest message of each matching subject, in stream
// order, with a user that may not touch a consumer.
func TestLastMsgs_NoConsumerAPI(t *testing.T) {
	admin, reader := runReaderServer(t)
	ctx := context.Background()
	glob := events.MustKeyGlob("/a/*").SubjectFilter("t")
	if got, _ := read(t, reader, glob); len(got) != 0 {
		t.Fatalf("empty stream gave %v", got)
	}
	for i := range 5 {
		for _, k := range []string{"/a/x", "/a/y", "/b/z"} {
			if _, err := bus.PublishEvent(ctx, admin, events.New("s", "t", k, []byte(fmt.Sprint(i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, seqs := read(t, reader, glob)
	if len(got) != 2 || got[events.EventSubject("t", "/a/x")] != "4" || got[events.EventSubject("t", "/a/y")] != "4" {
		t.Fatalf("latest per subject = %v, want /a/x and /a/y at 4", got)
	}
	inOrder(t, seqs)
	if got, _ := read(t, reader, events.MustKeyGlob("/nothing").SubjectFilter("t")); len(got) != 0 {
		t.Fatalf("a filter matching nothing gave %v", got)
	}
	// The one-off read with a consumer is what this user cannot do.
	err := bus.LastPerSubject(ctx, reader, events.EventsStream, []string{glob}, func(jetstream.Msg) error { return nil })
	if err == nil {
		t.Fatal("the reader created a consumer: the test's permissions do not hold")
	}
	if left := testutil.Consumers(t, admin, events.EventsStream); len(left) != 0 {
		t.Fatalf("consumers on the stream: %v", left)
	}
}

// More subjects than one multi-last get may answer (1,024) and more
// messages than one page (256): every subject once, its newest message,
// in stream order.
func TestLastMsgs_Paging(t *testing.T) {
	admin, reader := runReaderServer(t)
	ctx := context.Background()
	const keys = 1100
	want := map[string]string{}
	for round := range 2 {
		for i := range keys {
			if round == 1 && i%3 != 0 {
				continue // every third key has a newer event
			}
			k := fmt.Sprintf("/p/%04d", i)
			data := fmt.Sprintf("%d-%d", i, round)
			if _, err := admin.PublishAsync(events.EventSubject("t", k), []byte(data)); err != nil {
				t.Fatal(err)
			}
			want[events.EventSubject("t", k)] = data
		}
		select {
		case <-admin.PublishAsyncComplete():
		case <-ctx.Done():
		}
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if n, err := testutil.CountStored(ctx, admin, events.EventsStream, events.EventPrefix+".>"); err != nil || n != uint64(keys+(keys+2)/3) {
			return fmt.Errorf("%d stored (%v)", n, err)
		}
		return nil
	})
	for _, filters := range [][]string{
		{events.EventPrefix + ".t.>"},
		{events.EventPrefix + ".t.>", events.EventPrefix + ".>"}, // overlapping
		nil, // the whole stream
	} {
		got, seqs := read(t, reader, filters...)
		if len(got) != keys {
			t.Fatalf("%v: %d subjects, want %d", filters, len(got), keys)
		}
		for subj, data := range want {
			if got[subj] != data {
				t.Fatalf("%v: %s = %q, want %q", filters, subj, got[subj], data)
			}
		}
		inOrder(t, seqs)
	}
	// Under the limit (600 subjects), across pages of 256.
	var some []string
	for i := range 600 {
		some = append(some, events.EventSubject("t", fmt.Sprintf("/p/%04d", i)))
	}
	got, seqs := read(t, reader, some...)
	if len(got) != len(some) {
		t.Fatalf("%d subjects, want %d", len(got), len(some))
	}
	for _, subj := range some {
		if want[subj] != got[subj] {
			t.Fatalf("%s = %q, want %q", subj, got[subj], want[subj])
		}
	}
	inOrder(t, seqs)
	if left := testutil.Consumers(t, admin, events.EventsStream); len(left) != 0 {
		t.Fatalf("consumers on the stream: %v", left)
	}
}
