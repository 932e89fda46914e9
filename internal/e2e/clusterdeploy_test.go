package e2e_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/gotool"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/schemas"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"
)

const clusterDir = "../../deploy/cluster"

// TestDeployCluster_Files checks deploy/cluster's files with the parsers
// that read them: the script with bash -n, the nats-server files with
// nats-server's own parser, the zoo.cfg files as ZooKeeper's key=value
// lines, and dispatcher.yaml with the dispatcher's loader and its schema;
// and that they agree with each other (ports, routes, connect strings).
// The nats-server files are read as up.sh runs them: next to the
// herald-auth.conf they include, made by the real herald auth
// server-config, with their /etc/nats/tls paths pointing to real
// certificates; they must enforce TLS on clients and routes and trust the
// auth directory.
func TestDeployCluster_Files(t *testing.T) {
	t.Parallel()
	if out, err := exec.Command("bash", "-n", filepath.Join(clusterDir, "up.sh")).CombinedOutput(); err != nil {
		t.Fatalf("bash -n up.sh: %v\n%s", err, out)
	}
	bin := testutil.Binaries(t)
	authDir := filepath.Join(t.TempDir(), "auth")
	if out, err := exec.Command(filepath.Join(bin, "herald"), "auth", "init", "--dir", authDir).CombinedOutput(); err != nil {
		t.Fatalf("herald auth init: %v\n%s", err, out)
	}
	// NewPKI's files have the names up.sh gives its own: ca.pem,
	// server.pem, server-key.pem.
	tlsDir := filepath.Dir(testutil.NewPKI(t).CA)

	var clientURLs, routePorts []string
	for i := 1; i <= 3; i++ {
		src := filepath.Join(clusterDir, fmt.Sprintf("nats-%d.conf", i))
		raw, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(raw), "/etc/nats/tls/"); n != 6 {
			t.Errorf("%s: %d paths under /etc/nats/tls/ (what up.sh rewrites), want 6: cert, key and CA for clients and routes", src, n)
		}
		dir := t.TempDir()
		p := filepath.Join(dir, filepath.Base(src))
		writeFile(t, p, strings.ReplaceAll(string(raw), "/etc/nats/tls/", tlsDir+"/"))
		conf, err := exec.Command(filepath.Join(bin, "herald"), "auth", "server-config", "--dir", authDir, "--resolver-dir", filepath.Join(dir, "jwt")).Output()
		if err != nil {
			t.Fatalf("herald auth server-config: %v", err)
		}
		writeFile(t, filepath.Join(dir, "herald-auth.conf"), string(conf))
		o, err := server.ProcessConfigFile(p)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		p = src
		switch {
		case o.TLSConfig == nil || o.TLSTimeout < 5:
			t.Errorf("%s: no tls block for clients with timeout 5 (%v)", p, o.TLSTimeout)
		case o.Cluster.TLSConfig == nil:
			t.Errorf("%s: no tls block for routes", p)
		case len(o.TrustedOperators) != 1 || o.SystemAccount == "" || o.AccountResolver == nil:
			t.Errorf("%s: does not trust the auth directory (operators %d, system_account %q): is herald-auth.conf included?", p, len(o.TrustedOperators), o.SystemAccount)
		case o.MaxControlLine != auth.MaxControlLine:
			t.Errorf("%s: max_control_line %d, want server-config's %d", p, o.MaxControlLine, auth.MaxControlLine)
		}
		want := fmt.Sprintf("nats-%d", i)
		switch {
		case o.ServerName != want:
			t.Errorf("%s: server_name %q, want %q", p, o.ServerName, want)
		case o.MaxConn != 100_000:
			t.Errorf("%s: max_connections %d, want 100000", p, o.MaxConn)
		case o.MaxPayload != 1<<20:
			t.Errorf("%s: max_payload %d, want 1MB", p, o.MaxPayload)
		case o.WriteDeadline != 10*time.Second:
			t.Errorf("%s: write_deadline %v, want 10s", p, o.WriteDeadline)
		case !o.JetStream || o.StoreDir == "":
			t.Errorf("%s: jetstream %v, store_dir %q", p, o.JetStream, o.StoreDir)
		case o.Cluster.Name != "herald" || o.Cluster.Port == 0:
			t.Errorf("%s: cluster %q on port %d", p, o.Cluster.Name, o.Cluster.Port)
		case len(o.Routes) != 3:
			t.Errorf("%s: %d routes, want 3", p, len(o.Routes))
		}
		clientURLs = append(clientURLs, fmt.Sprintf("nats://%s:%d", o.Host, o.Port))
		routePorts = append(routePorts, fmt.Sprint(o.Cluster.Port))
		var routes []string
		for _, r := range o.Routes {
			routes = append(routes, r.Port())
		}
		if slices.Sort(routes); !slices.Equal(routes, []string{"6222", "6223", "6224"}) {
			t.Errorf("%s: routes to ports %v", p, routes)
		}
	}
	if slices.Sort(routePorts); !slices.Equal(routePorts, []string{"6222", "6223", "6224"}) {
		t.Errorf("route listen ports %v, want 6222-6224 as the routes name", routePorts)
	}

	var zkServers []string
	var ensemble string
	for i := 1; i <= 3; i++ {
		p := filepath.Join(clusterDir, fmt.Sprintf("zoo-%d.cfg", i))
		cfg := readZooCfg(t, p)
		for _, k := range []string{"tickTime", "initLimit", "syncLimit", "dataDir", "autopurge.snapRetainCount", "autopurge.purgeInterval"} {
			if cfg[k] == "" {
				t.Errorf("%s: no %s", p, k)
			}
		}
		if !strings.Contains(cfg["4lw.commands.whitelist"], "srvr") {
			t.Errorf("%s: 4lw.commands.whitelist %q lacks srvr, which up.sh asks", p, cfg["4lw.commands.whitelist"])
		}
		zkServers = append(zkServers, cfg["clientPortAddress"]+":"+cfg["clientPort"])
		var lines []string
		for k, v := range cfg {
			if strings.HasPrefix(k, "server.") {
				lines = append(lines, k+"="+v)
			}
		}
		slices.Sort(lines)
		if len(lines) != 3 {
			t.Errorf("%s: server lines %v", p, lines)
		}
		if i == 1 {
			ensemble = strings.Join(lines, "\n")
		} else if got := strings.Join(lines, "\n"); got != ensemble {
			t.Errorf("%s names another ensemble:\n%s\nthan zoo-1.cfg:\n%s", p, got, ensemble)
		}
	}

	p := filepath.Join(clusterDir, "dispatcher.yaml")
	c := dispatcher.DefaultConfig()
	if err := c.LoadConfigFile(p); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if c.Streams.Replicas != 3 {
		t.Errorf("%s: streams.replicas %d, want 3", p, c.Streams.Replicas)
	}
	if want := strings.Join(clientURLs, ","); c.NATS.URL != want {
		t.Errorf("%s: nats.url %q, want the three nodes %q", p, c.NATS.URL, want)
	}
	if want := strings.Join(zkServers, ","); c.ZK.Servers != want {
		t.Errorf("%s: zk.servers %q, want the three servers %q", p, c.ZK.Servers, want)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if err := schemas.Validate(schemas.Dispatcher, doc); err != nil {
		t.Errorf("%s: %v", p, err)
	}
}

// readZooCfg reads ZooKeeper's key=value lines, failing on any other
// line and on a key given twice.
func readZooCfg(t *testing.T, p string) map[string]string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: not key=value: %q", p, n, line)
		}
		if _, dup := cfg[k]; dup {
			t.Fatalf("%s:%d: %s given twice", p, n, k)
		}
		cfg[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDeployCluster_Up runs deploy/cluster/up.sh as a reader would: it
// brings the cluster up on its fixed loopback ports with identities and
// TLS on and shows the znode change's outcome from each of the three
// agents. While it runs, the test checks the cluster from outside: the
// agents' outcomes are stored under their own names, a publisher's event
// reaches every agent while a reserved type is refused, a client without
// credentials is refused (Authorization Violation) and one without the CA
// cannot connect (TLS), herald status works with the viewer's
// credentials, and a revocation pushed to one node is refused on every
// node. Then Ctrl-C (SIGINT) stops everything the script started and
// removes its temp dir.
func TestDeployCluster_Up(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(clusterDir, "up.sh"))
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "PATH="+filepath.Dir(gotool.Path())+":"+os.Getenv("PATH"))
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Signal(os.Interrupt)
			<-exited
		}
	}()
	banner := regexp.MustCompile(`(?m)^  Logs: (\S+)/\*\.log$`)
	var work string
	testutil.Eventually(t, 8*time.Minute, func() error {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("up.sh ended before it was up: %v\n%s", err, out)
		default:
		}
		m := banner.FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("up.sh has not printed how to try it yet")
		}
		work = m[1]
		return nil
	})
	s := out.String()
	for i := 1; i <= 3; i++ {
		re := regexp.MustCompile(fmt.Sprintf(`(?m)^    \S+ outcome host=agent-%d watch=demo-config status=ok exit=0 .* type=zk.created key=/demo/config `, i))
		if !re.MatchString(s) {
			t.Errorf("up.sh printed no ok outcome of agent-%d:\n%s", i, s)
		}
	}
	if !regexp.MustCompile(`\[agent-\d\] zk.created /demo/config: hello, cluster`).MatchString(s) {
		t.Errorf("up.sh did not show the action's stdout:\n%s", s)
	}

	urls := "nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"
	authDir, ca := filepath.Join(work, "auth"), filepath.Join(work, "tls", "ca.pem")
	viewer := filepath.Join(authDir, "viewers", "ops.creds")
	herald := func(args ...string) (string, error) {
		c := exec.Command(filepath.Join(work, "bin", "herald"), args...)
		c.Env = append(os.Environ(), "HERALD_NATS="+urls)
		b, err := c.CombinedOutput()
		return string(b), err
	}

	// The agents run with their identities: each one's outcome is stored
	// on herald.outcome.NAME.>, which only NAME's credentials may publish.
	// A publisher's event reaches all three too.
	if o, err := herald("publish", "--nats-creds", filepath.Join(authDir, "publishers", "demo.creds"), "--nats-tls-ca", ca, "--type", "demo.hello", "--key", "/demo/hello", "--data", "hi"); err != nil {
		t.Fatalf("herald publish as the publisher demo: %v\n%s", err, o)
	}
	nc, err := natsconn.Connect(natsconn.Config{URL: urls, Creds: viewer, TLSCA: ca}, "test", wait)
	if err != nil {
		t.Fatalf("connect as the viewer: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	outcomes, err := js.Stream(ctx, "HERALD_OUTCOMES")
	if err != nil {
		t.Fatalf("HERALD_OUTCOMES as the viewer: %v", err)
	}
	for i := 1; i <= 3; i++ {
		for _, w := range []string{"demo-config", "demo-hello"} {
			subj := fmt.Sprintf("herald.outcome.agent-%d.%s", i, w)
			testutil.Eventually(t, time.Minute, func() error {
				m, err := outcomes.GetLastMsgForSubject(ctx, subj)
				if err != nil {
					return fmt.Errorf("%s: %w", subj, err)
				}
				var oc events.Outcome
				if err := json.Unmarshal(m.Data, &oc); err != nil {
					return fmt.Errorf("%s: %w", subj, err)
				}
				if oc.Host != fmt.Sprintf("agent-%d", i) || oc.Status != events.StatusOK {
					return fmt.Errorf("%s: host %q status %q", subj, oc.Host, oc.Status)
				}
				return nil
			})
		}
	}
	if o, err := herald("publish", "--nats-creds", filepath.Join(authDir, "publishers", "demo.creds"), "--nats-tls-ca", ca, "--timeout", "5s", "--type", "zk.changed", "--key", "/demo/config", "--data", "forged"); err == nil {
		t.Errorf("the publisher demo published a zk.changed event:\n%s", o)
	}

	// herald status with the viewer's credentials; none, or no CA, fails.
	o, err := herald("status", "--nats-creds", viewer, "--nats-tls-ca", ca)
	if err != nil {
		t.Fatalf("herald status as the viewer: %v\n%s", err, o)
	}
	for i := 1; i <= 3; i++ {
		if !strings.Contains(o, fmt.Sprintf("agent-%d", i)) {
			t.Errorf("herald status does not list agent-%d:\n%s", i, o)
		}
	}
	if o, err := herald("status", "--nats-tls-ca", ca); err == nil || !strings.Contains(o, "Authorization Violation") {
		t.Errorf("herald status without credentials: %v, want an Authorization Violation:\n%s", err, o)
	}
	if o, err := herald("status", "--nats-creds", viewer); err == nil || !strings.Contains(o, "certificate") {
		t.Errorf("herald status without the CA: %v, want a certificate error:\n%s", err, o)
	}
	// A generous connect timeout: on a loaded machine the default 2 s
	// handshake can time out, which is not the refusal under test.
	slow := nats.Timeout(wait)
	if _, err := nats.Connect(urls, nats.RootCAs(ca), slow); !natsconn.IsAuthError(err) {
		t.Errorf("a client without credentials: %v, want an Authorization Violation", err)
	}
	var uerr x509.UnknownAuthorityError
	if _, err := nats.Connect(urls, nats.UserCredentials(viewer), slow); !errors.As(err, &uerr) {
		t.Errorf("a client without the CA: %v, want x509.UnknownAuthorityError", err)
	}

	// The revocation printed, pushed to the cluster: agent-3 is refused
	// by every node; agent-1 still connects.
	if o, err := herald("auth", "revoke", "agent-3", "--dir", authDir, "--nats", urls, "--nats-creds", filepath.Join(authDir, "sys.creds"), "--nats-tls-ca", ca); err != nil {
		t.Fatalf("herald auth revoke agent-3: %v\n%s", err, o)
	}
	for _, port := range []string{"4222", "4223", "4224"} {
		url := "nats://127.0.0.1:" + port
		testutil.Eventually(t, time.Minute, func() error {
			nc, err := nats.Connect(url, nats.UserCredentials(filepath.Join(authDir, "agents", "agent-3.creds")), nats.RootCAs(ca), slow)
			if err == nil {
				nc.Close()
				return fmt.Errorf("%s still accepts the revoked agent-3", url)
			}
			if !natsconn.IsAuthError(err) {
				return fmt.Errorf("%s: %w, want an authorization error", url, err)
			}
			return nil
		})
		nc, err := nats.Connect(url, nats.UserCredentials(filepath.Join(authDir, "agents", "agent-1.creds")), nats.RootCAs(ca), slow)
		if err != nil {
			t.Errorf("%s refuses agent-1 after agent-3's revocation: %v", url, err)
			continue
		}
		nc.Close()
	}

	// Ctrl-C.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	stopped = true
	var xerr *exec.ExitError
	if err := <-exited; !errors.As(err, &xerr) || xerr.ExitCode() != 130 {
		t.Errorf("up.sh after SIGINT: %v, want exit status 130\n%s", err, out)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("up.sh left %v in its temp dir", ents)
	}
	if left := processesUnder(tmp); len(left) != 0 {
		t.Errorf("up.sh left processes running:\n%s", strings.Join(left, "\n"))
	}
}
