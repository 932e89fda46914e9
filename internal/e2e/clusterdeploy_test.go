package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/gotool"
	"github.com/heraldhq/herald/schemas"
	"github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"
)

const clusterDir = "../../deploy/cluster"

// TestDeployCluster_Files checks deploy/cluster's files with the parsers
// that read them: the script with bash -n, the nats-server files with
// nats-server's own parser, the zoo.cfg files as ZooKeeper's key=value
// lines, and dispatcher.yaml with the dispatcher's loader and its schema;
// and that they agree with each other (ports, routes, connect strings).
func TestDeployCluster_Files(t *testing.T) {
	t.Parallel()
	if out, err := exec.Command("bash", "-n", filepath.Join(clusterDir, "up.sh")).CombinedOutput(); err != nil {
		t.Fatalf("bash -n up.sh: %v\n%s", err, out)
	}

	var clientURLs, routePorts []string
	for i := 1; i <= 3; i++ {
		p := filepath.Join(clusterDir, fmt.Sprintf("nats-%d.conf", i))
		o, err := server.ProcessConfigFile(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
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

// TestDeployCluster_Up runs deploy/cluster/up.sh with ONESHOT=1: it brings
// the cluster up on its fixed loopback ports, shows the znode change's
// outcome from each of the three agents, then stops everything it started
// and removes its temp dir.
func TestDeployCluster_Up(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(clusterDir, "up.sh"))
	cmd.Env = append(os.Environ(), "ONESHOT=1", "TMPDIR="+tmp, "PATH="+filepath.Dir(gotool.Path())+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("up.sh: %v\n%s", err, out)
	}
	s := string(out)
	for i := 1; i <= 3; i++ {
		re := regexp.MustCompile(fmt.Sprintf(`(?m)^    \S+ outcome host=agent-%d watch=demo-config status=ok exit=0 .* type=zk.created key=/demo/config `, i))
		if !re.MatchString(s) {
			t.Errorf("up.sh printed no ok outcome of agent-%d:\n%s", i, s)
		}
	}
	if !regexp.MustCompile(`\[agent-\d\] zk.created /demo/config: hello, cluster`).MatchString(s) {
		t.Errorf("up.sh did not show the action's stdout:\n%s", s)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("up.sh left %v in its temp dir", ents)
	}
	if left := processesUnder(tmp); len(left) != 0 {
		t.Errorf("up.sh left processes running:\n%s", strings.Join(left, "\n"))
	}
}
