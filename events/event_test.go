package events_test

import (
	"bytes"
	"errors"
	"math/rand"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go"
)

func TestEvent_BinaryModeRoundTrip(t *testing.T) {
	data := []byte("line1\nline2\x00\xff raw, not base64")
	e := events.New("herald://test", "git.push", "/repos/app é%\n", data)
	e.Version = "mzxid=0x1f 7"
	m := e.ToMsg()
	if m.Subject != e.Subject() {
		t.Fatalf("subject %q, want %q", m.Subject, e.Subject())
	}
	if !bytes.Equal(m.Data, data) {
		t.Fatalf("payload %q is not the raw data", m.Data)
	}
	for h, want := range map[string]string{
		"ce-specversion": "1.0", "ce-id": e.ID, "ce-source": "herald://test", "ce-type": "git.push",
		"ce-datacontenttype": events.DefaultContentType,
	} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if _, err := uuid.Parse(m.Header.Get("ce-id")); err != nil {
		t.Errorf("id is not a UUID: %v", err)
	}
	if m.Header.Get(nats.MsgIdHdr) == "" {
		t.Error("no Nats-Msg-Id")
	}
	got, err := events.FromMsg(m)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != e.ID || got.Key != e.Key || got.Version != e.Version || got.Type != e.Type ||
		!got.Time.Equal(e.Time) || !bytes.Equal(got.Data, data) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
	}
}

func TestEvent_MsgIDFromSourceKeyVersion(t *testing.T) {
	a := events.New("zk://ensemble", "zk.changed", "/git/head", []byte("1"))
	b := events.New("zk://ensemble", "zk.changed", "/git/head", []byte("1"))
	if a.MsgID() == b.MsgID() {
		t.Fatal("events without a version must not share a Nats-Msg-Id")
	}
	// Without a version, (source, id) is the identity, as in CloudEvents.
	same := a
	same.Data = []byte("resent")
	if same.MsgID() != a.MsgID() {
		t.Fatal("the same (source, id) must give the same Nats-Msg-Id")
	}
	other := a
	other.Source = "ci://other"
	if other.MsgID() == a.MsgID() {
		t.Fatal("two sources using the same id share a Nats-Msg-Id")
	}
	a.Version, b.Version = "42", "42"
	if a.MsgID() != b.MsgID() {
		t.Fatal("the same (source, key, version) must give the same Nats-Msg-Id")
	}
	c := b
	c.Key = "/git/head2"
	if c.MsgID() == a.MsgID() {
		t.Fatal("different keys share a Nats-Msg-Id")
	}
	// Field boundaries are unambiguous.
	x := events.Event{Source: "a", Key: "b|c", Version: "d"}
	y := events.Event{Source: "a", Key: "b", Version: "c|d"}
	if x.MsgID() == y.MsgID() {
		t.Fatal("ambiguous Nats-Msg-Id")
	}
}

func TestFromMsg_Rejects(t *testing.T) {
	if _, err := events.FromMsg(&nats.Msg{Subject: "x", Data: []byte("x")}); !errors.Is(err, events.ErrNotCloudEvent) {
		t.Errorf("plain message: %v", err)
	}
	e := events.New("s", "ok.type", "k", nil)
	m := e.ToMsg()
	m.Header.Set("ce-type", "Bad Type")
	if _, err := events.FromMsg(m); !errors.Is(err, events.ErrSubjectMismatch) {
		t.Errorf("bad type: %v", err)
	}
	m = e.ToMsg()
	m.Header.Set("ce-source", "a\x01b")
	var fe *events.FieldError
	if _, err := events.FromMsg(m); !errors.As(err, &fe) || fe.Field != "source" {
		t.Errorf("control character in source: %v", err)
	}
	m = e.ToMsg()
	m.Subject = "herald.event.ok.type"
	if _, err := events.FromMsg(m); !errors.Is(err, events.ErrBadSubject) {
		t.Errorf("subject without a key: %v", err)
	}
	m = e.ToMsg()
	m.Header = nats.Header{"Content-Type": {"text/plain"}}
	if _, err := events.FromMsg(m); !errors.Is(err, events.ErrNotCloudEvent) {
		t.Errorf("text/plain payload: %v", err)
	}
	m = e.ToMsg()
	m.Header.Set("ce-specversion", "0.3")
	if _, err := events.FromMsg(m); !errors.Is(err, events.ErrInvalidEvent) {
		t.Errorf("bad specversion: %v", err)
	}
}

func TestValidateType(t *testing.T) {
	for _, ok := range []string{"zk.changed", "git.push", "a", "call.pre", "kv.put", "x-1.y_2"} {
		if err := events.ValidateType(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".a", "a.", "a..b", "A", "a b", "a.*", "a.>", "_a", "/a", ":a"} {
		if err := events.ValidateType(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestValidateType_MatchesPattern checks the hand-written validator against
// the pattern the schema publishes, on random strings over the characters
// that matter.
func TestValidateType_MatchesPattern(t *testing.T) {
	re := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$`)
	r := rand.New(rand.NewSource(4))
	alphabet := "az09._-A *>/"
	for range 50000 {
		b := make([]byte, r.Intn(8))
		for i := range b {
			b[i] = alphabet[r.Intn(len(alphabet))]
		}
		s := string(b)
		if got, want := events.ValidateType(s) == nil, re.MatchString(s); got != want {
			t.Fatalf("ValidateType(%q) ok=%v, pattern says %v", s, got, want)
		}
	}
}

// Two events that share an id but not a source (CloudEvents makes only
// (source, id) unique) never share an outcome's message id; the id names
// its parts and the event.
func TestOutcomeMsgID_UniquePerEventIdentity(t *testing.T) {
	a := events.Event{ID: "build-42", Source: "ci-a", Type: "ci.build", Key: "app"}
	b := a
	b.Source = "ci-b"
	ida, idb := events.OutcomeMsgID(a, "web-1", "deploy"), events.OutcomeMsgID(b, "web-1", "deploy")
	if ida == idb {
		t.Fatalf("events of two sources share the outcome id %q", ida)
	}
	if !strings.HasPrefix(ida, "outcome/web-1/deploy/build-42/") {
		t.Errorf("outcome id %q does not name host, watch and event", ida)
	}
	// "/" inside parts cannot make two different (host, watch) collide.
	if events.OutcomeMsgID(a, "web/1", "deploy") == events.OutcomeMsgID(a, "web", "1/deploy") {
		t.Error("parts with / collide")
	}
	if events.OutcomeMsgID(a, "web-1", "deploy") != ida {
		t.Error("the id is not stable for the same event, host and watch")
	}
}
