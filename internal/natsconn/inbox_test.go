package natsconn_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/nats-io/nats.go"
)

// With a creds file, replies come on the identity's own inbox prefix
// (the name in the credentials' JWT), the only one its permissions let it
// read.
func TestOptions_CredsInboxPrefix(t *testing.T) {
	d := auth.Dir(filepath.Join(t.TempDir(), "auth"))
	if _, err := d.Init(time.Now()); err != nil {
		t.Fatal(err)
	}
	iss, err := d.Add(auth.Spec{Name: "web-1", Role: auth.RoleAgent}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o := nats.GetDefaultOptions()
	for _, opt := range (natsconn.Config{Creds: iss.Creds}).Options("t") {
		if err := opt(&o); err != nil {
			t.Fatal(err)
		}
	}
	if o.InboxPrefix != "_INBOX_web-1" {
		t.Fatalf("inbox prefix %q, want _INBOX_web-1", o.InboxPrefix)
	}
	o = nats.GetDefaultOptions()
	for _, opt := range (natsconn.Config{User: "u", Password: "p"}).Options("t") {
		_ = opt(&o)
	}
	if o.InboxPrefix != "" {
		t.Fatalf("inbox prefix %q without creds, want the default", o.InboxPrefix)
	}
}
