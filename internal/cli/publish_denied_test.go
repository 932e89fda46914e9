package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// A publish the server refuses (a publisher's permissions) fails at once
// with the server's violation, not after --timeout with "context deadline
// exceeded".
func TestMain_RunPublish_PermissionDeniedFailsFast(t *testing.T) {
	t.Parallel()
	s := testutil.RunNATSWithOptions(t, &server.Options{Users: []*server.User{
		{Username: "admin", Password: "a"},
		{Username: "ci", Password: "c", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{"herald.event.deploy.>"}},
		}},
	}})
	testutil.ConnectStreams(t, s, nats.UserInfo("admin", "a"))
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte("c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// With --timeout 1m, only the server's refusal can end it with the
	// violation as the error (the deadline would say so).
	r := run(t, nil, nil, "publish", "--type", "zk.changed", "--key", "/secret", "--nats", s.ClientURL(),
		"--nats-user", "ci", "--nats-password-file", pw, "--timeout", "1m")
	if r.err == nil {
		t.Fatalf("a refused publish succeeded: %q", r.out)
	}
	if !strings.Contains(r.err.Error(), "Permissions Violation") || !strings.Contains(r.err.Error(), "may not publish this type or key") {
		t.Errorf("error %v: want the server's permissions violation and the hint", r.err)
	}
	r = run(t, nil, nil, "publish", "--type", "deploy.app", "--key", "/app", "--nats", s.ClientURL(), "--nats-user", "ci", "--nats-password-file", pw)
	if r.err != nil {
		t.Fatalf("a permitted publish: %v\n%s", r.err, r.errOut)
	}
}
