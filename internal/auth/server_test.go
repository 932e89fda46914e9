package auth_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/auth/authserver"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const wait = 20 * time.Second

func revocations(t *testing.T, accountJWT string) string {
	t.Helper()
	ac, err := jwt.DecodeAccountClaims(accountJWT)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for k := range ac.Revocations {
		b.WriteString(k + " ")
	}
	return b.String()
}

// asyncErrs collects a connection's asynchronous errors (permission
// violations).
type asyncErrs struct {
	mu   sync.Mutex
	errs []string
}

func (a *asyncErrs) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err.Error())
	a.mu.Unlock()
}

// violation waits for the server's permissions violation naming subj.
func (a *asyncErrs) violation(t *testing.T, subj string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, e := range a.errs {
			if strings.Contains(e, "Permissions Violation") && strings.Contains(e, `"`+subj+`"`) {
				return nil
			}
		}
		return fmt.Errorf("no permissions violation for %s yet (%q)", subj, a.errs)
	})
}

func connectCreds(t *testing.T, url, creds string, opts ...nats.Option) (*nats.Conn, *asyncErrs) {
	t.Helper()
	errs := &asyncErrs{}
	cfg := natsconn.Config{URL: url, Creds: creds}
	nc, err := natsconn.Connect(cfg, "test", wait, append(opts, nats.ErrorHandler(errs.handler))...)
	if err != nil {
		t.Fatalf("connect with %s: %v", creds, err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

// A server trusting an auth directory (the embedded server's setup)
// accepts the identities issued from it with their permissions, and a
// revocation applied live disconnects the identity and refuses it from
// then on.
func TestTrust_EnforcesAndRevokesLive(t *testing.T) {
	d := initDir(t)
	agent, err := d.Add(auth.Spec{Name: "web-1", Role: auth.RoleAgent}, now)
	if err != nil {
		t.Fatal(err)
	}
	trust, err := d.LoadTrust()
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{}
	if err := authserver.Configure(opts, trust); err != nil {
		t.Fatal(err)
	}
	srv := testutil.RunNATSWithOptions(t, opts)

	if _, err := nats.Connect(srv.ClientURL()); err == nil || !natsconn.IsAuthError(err) {
		t.Fatalf("connect without credentials: %v, want an authorization error", err)
	}
	_, nc, errs, disconnected := agentOnTrustedServer(t, srv.ClientURL(), d, agent.Creds)
	if err := nc.Publish("herald.outcome.web-2.w", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	errs.violation(t, "herald.outcome.web-2.w")

	// A call-hook request from the dispatcher is answered by the agent
	// (a reply to the dispatcher's inbox, which it may not publish on
	// otherwise).
	if _, err := nc.Subscribe("herald.callhook.web-1", func(m *nats.Msg) { _ = m.Respond([]byte("done")) }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	disp, _ := connectCreds(t, srv.ClientURL(), d.Path(auth.DispatcherCredsFile))
	if m, err := disp.Request("herald.callhook.web-1", []byte("run"), wait); err != nil || string(m.Data) != "done" {
		t.Fatalf("call-hook request: %v", err)
	}
	if err := nc.Publish("_INBOX_dispatcher.x", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	errs.violation(t, "_INBOX_dispatcher.x")

	acc, err := d.Revoke("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := authserver.Apply(srv, trust, acc); err != nil {
		t.Fatal(err)
	}
	select {
	case <-disconnected:
	case <-time.After(wait):
		t.Fatal("the revoked agent was not disconnected")
	}
	_, err = nats.Connect(srv.ClientURL(), nats.UserCredentials(agent.Creds))
	if err == nil || !natsconn.IsAuthError(err) {
		t.Fatalf("reconnect after revocation: %v, want an authorization error", err)
	}
}

// Apply refuses an account JWT from another trust root.
func TestTrust_ApplyRefusesForeignAccount(t *testing.T) {
	d, other := initDir(t), initDir(t)
	trust, _ := d.LoadTrust()
	opts := &server.Options{}
	if err := authserver.Configure(opts, trust); err != nil {
		t.Fatal(err)
	}
	srv := testutil.RunNATSWithOptions(t, opts)
	foreign, _ := other.ReadJWT(auth.AccountJWTFile)
	if err := authserver.Apply(srv, trust, foreign); err == nil {
		t.Fatal("a foreign account JWT was applied")
	}
}

// The configuration server-config prints makes a real nats-server trust
// the directory: issued credentials connect with their permissions, and a
// revocation pushed with the SYS user's credentials is taken live.
func TestServerConfig_RealServer(t *testing.T) {
	d := initDir(t)
	agent, err := d.Add(auth.Spec{Name: "web-1", Role: auth.RoleAgent}, now)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := d.ServerConfig(filepath.Join(t.TempDir(), "jwt"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:-1\njetstream: {store_dir: "+fmt.Sprintf("%q", t.TempDir())+"}\ninclude herald.conf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(file), "herald.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("%v\n%s", err, conf)
	}
	if opts.MaxControlLine != auth.MaxControlLine {
		t.Errorf("max_control_line %d, want %d", opts.MaxControlLine, auth.MaxControlLine)
	}
	srv := testutil.RunNATSWithOptions(t, opts)

	adm, nc, errs, disconnected := agentOnTrustedServer(t, srv.ClientURL(), d, agent.Creds)
	if err := nc.Publish("herald.agent.web-2", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	errs.violation(t, "herald.agent.web-2")

	acc, err := d.Revoke("web-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Only the system account may push.
	if _, err := auth.Push(adm, acc, 2*time.Second); err == nil {
		t.Error("the admin (HERALD account) pushed an account JWT")
	}
	sys, _ := connectCreds(t, srv.ClientURL(), d.Path(auth.SysCredsFile))
	if _, err := auth.Push(sys, acc, wait); err != nil {
		t.Fatal(err)
	}
	select {
	case <-disconnected:
	case <-time.After(wait):
		t.Fatal("the revoked agent was not disconnected")
	}
	_, err = nats.Connect(srv.ClientURL(), nats.UserCredentials(agent.Creds))
	if err == nil || !natsconn.IsAuthError(err) {
		t.Fatalf("reconnect after revocation: %v, want an authorization error", err)
	}
	if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "revoked") && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("unexpected refusal: %v", err)
	}
}

// agentOnTrustedServer checks a server that trusts d: the admin may create
// a stream (JetStream in the HERALD account), and agent web-1 (agentCreds)
// stores its own outcome, acked on its own inbox. It returns the admin's
// and the agent's connections, the agent's violations and a channel told
// of its disconnections.
func agentOnTrustedServer(t *testing.T, url string, d auth.Dir, agentCreds string) (adm, nc *nats.Conn, errs *asyncErrs, disconnected chan struct{}) {
	t.Helper()
	adm, _ = connectCreds(t, url, d.Path(auth.AdminCredsFile))
	js, _ := jetstream.New(adm)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "HERALD_OUTCOMES", Subjects: []string{"herald.outcome.>"}}); err != nil {
		t.Fatalf("the admin cannot create a stream (JetStream in the HERALD account): %v", err)
	}
	disconnected = make(chan struct{}, 1)
	nc, errs = connectCreds(t, url, agentCreds, nats.DisconnectErrHandler(func(*nats.Conn, error) {
		select {
		case disconnected <- struct{}{}:
		default:
		}
	}))
	ajs, _ := jetstream.New(nc)
	if _, err := ajs.Publish(t.Context(), "herald.outcome.web-1.w", []byte("{}")); err != nil {
		t.Fatalf("the agent's own outcome (acked on its inbox _INBOX_web-1): %v", err)
	}
	return adm, nc, errs, disconnected
}
