package dispatcher_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/auth/authserver"
	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

const authWait = 20 * time.Second

// copyFile copies name from one auth directory to another through a
// rename, as rsync does.
func copyFile(t *testing.T, from, to auth.Dir, name string) {
	t.Helper()
	b, err := os.ReadFile(from.Path(name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to.Path(name)+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to.Path(name)+".tmp", to.Path(name)); err != nil {
		t.Fatal(err)
	}
}

// With --auth and the embedded server, a client needs credentials issued
// from the directory; the dispatcher's registry follows herald auth. The
// dispatcher's copy of the directory holds no seed.
func TestDispatcher_AuthEmbedded(t *testing.T) {
	d, _ := testutil.AuthDir(t)
	dd := auth.Dir(filepath.Join(t.TempDir(), "dispatcher-auth"))
	if err := os.Mkdir(string(dd), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{auth.OperatorJWTFile, auth.SysJWTFile, auth.AccountJWTFile, auth.DispatcherCredsFile, auth.RegistryFile} {
		copyFile(t, d, dd, f)
	}
	cfg := testConfig(t)
	cfg.Auth = string(dd)
	disp := startDispatcher(t, cfg)
	if _, err := nats.Connect(disp.ClientURL()); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("connect without credentials: %v, want an authorization violation", err)
	}
	nc, err := nats.Connect(disp.ClientURL(), nats.UserCredentials(d.Path(auth.AdminCredsFile)))
	if err != nil {
		t.Fatalf("connect as admin: %v", err)
	}
	nc.Close()
	if _, ok := disp.Registry().Lookup("dispatcher"); !ok {
		t.Fatal("the registry lacks the dispatcher")
	}
	if _, err := d.Add(auth.Spec{Name: "web-1", Role: auth.RoleAgent}, time.Now()); err != nil {
		t.Fatal(err)
	}
	copyFile(t, d, dd, auth.RegistryFile)
	testutil.Eventually(t, authWait, func() error {
		if _, ok := disp.Registry().Lookup("web-1"); !ok {
			return errors.New("web-1 not in the dispatcher's registry yet")
		}
		return nil
	})
}

// With an external server and --auth, the dispatcher connects as the
// directory's dispatcher identity unless told otherwise, and exposes the
// registry.
func TestDispatcher_AuthExternal(t *testing.T) {
	d, _ := testutil.AuthDir(t)
	trust, err := d.LoadTrust()
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{}
	if err := authserver.Configure(opts, trust); err != nil {
		t.Fatal(err)
	}
	s := testutil.RunNATSWithOptions(t, opts)
	cfg := testConfig(t)
	cfg.NATS.URL = s.ClientURL()
	cfg.Data = ""
	cfg.Auth = string(d)
	disp := startDispatcher(t, cfg)
	if !disp.Connected() {
		t.Fatal("not connected")
	}
	if _, ok := disp.Registry().Lookup("admin"); !ok {
		t.Fatal("the registry lacks the admin")
	}
}

func TestConfig_AuthRefusals(t *testing.T) {
	d, _ := testutil.AuthDir(t)
	cases := []struct {
		set  func(*dispatcher.Config)
		says string
	}{
		{func(c *dispatcher.Config) { c.Auth = filepath.Join(t.TempDir(), "none") }, "auth: "},
		{func(c *dispatcher.Config) { c.Auth = string(d); c.NATS.Token = "x" }, "auth: the embedded server takes either"},
	}
	for _, c := range cases {
		cfg := testConfig(t)
		c.set(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, dispatcher.ErrInvalidConfig) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Validate() = %v, want %q", err, c.says)
		}
	}
}
