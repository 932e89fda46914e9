package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ceRecordScript appends "type|key|data" of each run to $DIR/$LOG.
const ceRecordScript = `printf '%s|%s|%s\n' "$HERALD_EVENT_TYPE" "$HERALD_KEY" "$(cat)" >> "$DIR/$LOG"`

// TestCloudEvents_SDKEventsRun: events sent by the official CloudEvents Go
// SDK (binary and structured mode over NATS JetStream, binary mode over
// HTTP to the dispatcher) run on a real agent with exactly the keys sent,
// '%' and non-ASCII included.
func TestCloudEvents_SDKEventsRun(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("record.sh", ceRecordScript)
	f.watchFile("ce.yaml", `
watches:
  - name: ce
    on: event:demo.x
    key: /demo/**
    exec: ["%DIR%/record.sh"]
    env: {DIR: "%DIR%", LOG: "runs.log"}
    run_mode: parallel
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "a1", watches: f.watches})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()

	send := func(enc func(context.Context) context.Context, key, ct string, data any) {
		t.Helper()
		s, err := cejs.NewSenderFromConn(c.nc, events.EventsStream, events.EventSubject("demo.x", key), nil)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := cloudevents.NewClient(s)
		if err != nil {
			t.Fatal(err)
		}
		e := cloudevents.NewEvent()
		e.SetID(fmt.Sprint("sdk-", time.Now().UnixNano()))
		e.SetSource("/sdk")
		e.SetType("demo.x")
		e.SetSubject(key)
		if err := e.SetData(ct, data); err != nil {
			t.Fatal(err)
		}
		if res := cl.Send(enc(ctx), e); !cloudevents.IsACK(res) {
			t.Fatalf("send %q: %v", key, res)
		}
	}
	send(cloudevents.WithEncodingBinary, "/demo/50%off", "text/plain", "binary")
	send(cloudevents.WithEncodingStructured, "/demo/caf\u00e9 au lait", "application/json", map[string]int{"s": 1})

	hc, err := cloudevents.NewClientHTTP(cehttp.WithTarget("http://" + c.http + "/v1/events"))
	if err != nil {
		t.Fatal(err)
	}
	he := cloudevents.NewEvent()
	he.SetID("http-1")
	he.SetSource("/sdk-http")
	he.SetType("demo.x")
	he.SetSubject("/demo/100% http")
	if err := he.SetData("text/plain", "over http"); err != nil {
		t.Fatal(err)
	}
	if res := hc.Send(cloudevents.WithEncodingBinary(ctx), he); !cloudevents.IsACK(res) {
		t.Fatalf("HTTP binary mode: %v", res)
	}

	out.waitCount(t, "ce", events.StatusOK, 3)
	got := strings.Join(sortedLines(readLines(t, f.path("runs.log"))), "\n")
	want := strings.Join(sortedLines([]string{
		"demo.x|/demo/50%off|binary",
		`demo.x|/demo/caf` + "\u00e9" + ` au lait|{"s":1}`,
		"demo.x|/demo/100% http|over http",
	}), "\n")
	if got != want {
		t.Fatalf("runs:\n%s\nwant:\n%s", got, want)
	}
}

func sortedLines(l []string) []string {
	out := append([]string(nil), l...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestCloudEvents_SDKDecodesHeraldEvents: an event the dispatcher stores
// decodes in the official SDK with the key as published and every
// attribute; a key that a NATS header cannot carry shows the documented
// percent-encoding there.
func TestCloudEvents_SDKDecodesHeraldEvents(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	keys := []string{"/demo/50%off", "/caf\u00e9/a b", "plain key %C3%A9", "/line\nbreak"}
	for i, k := range keys {
		body := fmt.Sprintf(`{"type":"demo.x","key":%q,"data":"d%d","datacontenttype":"text/plain","version":"v%d","source":"ci://job"}`, k, i, i)
		resp, err := http.Post("http://"+c.http+"/v1/events", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s = %d %s", body, resp.StatusCode, b)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	oc, err := c.js.OrderedConsumer(ctx, events.EventsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		m, err := oc.Next(jetstream.FetchMaxWait(wait))
		if err != nil {
			t.Fatal(err)
		}
		raw := &nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()}
		e, err := binding.ToEvent(ctx, cejs.NewMessage(raw))
		if err != nil {
			t.Fatalf("SDK cannot decode the event of key %q: %v", k, err)
		}
		wantKey := k
		if k == "/line\nbreak" {
			wantKey = "/line%0Abreak" // documented: the NATS subject carries it exactly
		}
		if e.Subject() != wantKey || e.Type() != "demo.x" || e.Source() != "ci://job" || e.DataContentType() != "text/plain" ||
			string(e.Data()) != fmt.Sprint("d", i) || e.Time().IsZero() || e.ID() == "" {
			t.Errorf("SDK decoded %q as %v", k, e)
		}
		if v, _ := e.Extensions()["heraldversion"].(string); v != fmt.Sprint("v", i) {
			t.Errorf("key %q: heraldversion %v, want v%d", k, e.Extensions()["heraldversion"], i)
		}
		if err := e.Validate(); err != nil {
			t.Errorf("key %q: SDK validation: %v", k, err)
		}
		if he, err := events.FromMsg(raw); err != nil || he.Key != k {
			t.Errorf("key %q: Herald decodes %q, %v", k, he.Key, err)
		}
	}
}

// TestCloudEvents_SubjectIsAuthority: a message whose ce-type disagrees
// with its NATS subject runs nothing: the agent terminates it and counts
// it in herald_agent_malformed_events_total{reason="subject_mismatch"}.
func TestCloudEvents_SubjectIsAuthority(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("record.sh", ceRecordScript)
	f.watchFile("w.yaml", `
watches:
  - name: x
    on: event:demo.x
    key: /demo/**
    exec: ["%DIR%/record.sh"]
    env: {DIR: "%DIR%", LOG: "x.log"}
    run_on_load: false
  - name: fail
    on: event:demo.fail
    key: /demo/**
    exec: ["%DIR%/record.sh"]
    env: {DIR: "%DIR%", LOG: "fail.log"}
    run_on_load: false
`)
	out := c.watchOutcomes()
	a := c.startAgent(agentOpts{name: "a1", watches: f.watches, extra: []string{"--metrics", "127.0.0.1:0"}})
	mm := regexp.MustCompile(`"metrics_addr":"([^"]+)"`).FindStringSubmatch(a.out.String())
	if mm == nil {
		t.Fatalf("agent did not log its metrics address")
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	forge := func(typ, subjectAttr string) {
		t.Helper()
		m := events.New("forger", "demo.x", "/demo/bad", []byte("forged")).ToMsg()
		m.Header.Set(events.HeaderType, typ)
		m.Header.Set(events.HeaderSubject, subjectAttr)
		if _, err := c.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	forge("demo.fail", "/demo/bad") // the type of another watch
	forge("demo.x", "/demo/other")  // another key
	c.publish("demo.fail", "/demo/ok", "real")
	c.publish("demo.x", "/demo/ok", "real")
	out.waitCount(t, "fail", events.StatusOK, 1)
	out.waitCount(t, "x", events.StatusOK, 1)
	testutil.Eventually(t, wait, func() error {
		resp, err := http.Get("http://" + mm[1] + "/metrics")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `herald_agent_malformed_events_total{reason="subject_mismatch"} 2`; !strings.Contains(string(b), want) {
			return fmt.Errorf("metrics lack %q", want)
		}
		return nil
	})
	// The forged events came first in the stream; the agent handles events
	// in stream order, so they were decided before the real ones ran.
	if got := readLines(t, f.path("fail.log")); len(got) != 1 || got[0] != "demo.fail|/demo/ok|real" {
		t.Errorf("fail watch runs = %q, want only the real event", got)
	}
	if got := readLines(t, f.path("x.log")); len(got) != 1 || got[0] != "demo.x|/demo/ok|real" {
		t.Errorf("x watch runs = %q, want only the real event", got)
	}
	a.waitLog(`"reason":"subject_mismatch"`)
}
