package natsconn_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func TestRedactURLs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"nats://user:pass@host:4222", "nats://user:xxxxx@host:4222"},
		{"nats://s3cret-token@host:4222", "nats://xxxxx@host:4222"},
		{"tls://u:p@a:1,nats://tok@b:2,nats://c:3", "tls://u:xxxxx@a:1,nats://xxxxx@b:2,nats://c:3"},
		{`parse "nats://u:p@ss:w@h:x": invalid port`, `parse "nats://u:xxxxx@h:x": invalid port`},
		{"nats://u:p:q@h/path@x", "nats://u:xxxxx@h/path@x"},
		{"nats://host:4222 and mail me@example.com", "nats://host:4222 and mail me@example.com"},
		{"no url at all", "no url at all"},
	} {
		if got := natsconn.RedactURLs(c.in); got != c.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRedactError_KeepsChain(t *testing.T) {
	base := fmt.Errorf("connect nats://u:secret@h:1: %w", nats.ErrAuthorization)
	err := natsconn.RedactError(base)
	if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "nats://u:xxxxx@h:1") {
		t.Fatalf("RedactError = %q", err)
	}
	if !errors.Is(err, nats.ErrAuthorization) || !natsconn.IsAuthError(err) {
		t.Fatalf("the chain is lost: %v", err)
	}
	if natsconn.RedactError(nil) != nil {
		t.Fatal("RedactError(nil) is not nil")
	}
}

// Credentials in the URL never reach Connect's error, whatever fails:
// a refusal, a URL that does not parse, a server that never answers.
func TestConnect_ErrorsRedactURLCredentials(t *testing.T) {
	s := testutil.RunNATSWithOptions(t, &server.Options{Username: "herald", Password: "right"})
	host := strings.TrimPrefix(s.ClientURL(), "nats://")
	for _, c := range []struct {
		url  string
		wait time.Duration
	}{
		{"nats://herald:wrong-pw-123@" + host, 0},
		{"nats://tok-wrong-pw-123@" + host, 0},
		{"nats://herald:wrong-pw-123@" + host + ":notaport", 0},
		{"nats://herald:wrong-pw-123@127.0.0.1:1", time.Second},
	} {
		nc, err := natsconn.Connect(natsconn.Config{URL: c.url}, "test", c.wait)
		if err == nil {
			nc.Close()
			t.Fatalf("%s: connected", natsconn.RedactURLs(c.url))
		}
		if strings.Contains(err.Error(), "wrong-pw-123") {
			t.Errorf("the secret is in the error: %v", err)
		}
		if !strings.Contains(err.Error(), natsconn.Redacted+"@") {
			t.Errorf("%v: want the URL with its credentials redacted", err)
		}
	}
	// Right credentials in the URL still connect.
	nc, err := natsconn.Connect(natsconn.Config{URL: "nats://herald:right@" + host}, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := natsconn.ConnectedURL(nc); strings.Contains(got, "right") || !strings.Contains(got, "herald:xxxxx@") {
		t.Errorf("ConnectedURL = %q", got)
	}
}
