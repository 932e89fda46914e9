package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/testutil/promnames"
)

// TestDashboards_MetricsExist: every metric that the shipped Grafana
// dashboard (deploy/grafana/herald.json) and alerting rules
// (deploy/prometheus/alerts.yaml) name is on the /metrics of a running
// dispatcher or agent, before any event: the series a dashboard or an
// alert needs exist at zero on a fresh fleet (a watch's series from its
// load on), not only once something happened. The fleet's per-agent
// series need only an agent to have announced itself.
func TestDashboards_MetricsExist(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	var exprs []string
	from := map[string][]string{} // metric -> the files naming it
	for _, f := range []struct {
		path string
		read func([]byte) ([]string, error)
	}{
		{filepath.Join(root, "deploy", "grafana", "herald.json"), promnames.DashboardExprs},
		{filepath.Join(root, "deploy", "prometheus", "alerts.yaml"), promnames.RuleExprs},
	} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := f.read(b)
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		names, err := promnames.AllNames(ex)
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		if len(names) == 0 {
			t.Fatalf("%s names no metric", f.path)
		}
		for _, n := range names {
			from[n] = append(from[n], filepath.Base(f.path))
		}
		exprs = append(exprs, ex...)
	}

	c := newCluster(t)
	f := newFixture(t)
	f.watchFile("w.yaml", `
watches:
  - name: deploy
    on: event:test.dashboards
    exec: ["true"]
    run_on_load: false
`)
	a := c.startAgent(agentOpts{name: "web-1", watches: f.watches, extra: []string{"--metrics", "127.0.0.1:0"}})
	m := regexp.MustCompile(`"metrics_addr":"([^"]+)"`).FindStringSubmatch(a.out.String())
	if m == nil {
		t.Fatal("agent did not log its metrics address")
	}
	testutil.Eventually(t, wait, func() error {
		have := map[string]bool{}
		for _, url := range []string{"http://" + c.http + "/metrics", "http://" + m[1] + "/metrics"} {
			names, err := scrapeNames(url)
			if err != nil {
				return err
			}
			for n := range names {
				have[n] = true
			}
		}
		var missing []string
		for n, files := range from {
			if !have[n] {
				missing = append(missing, fmt.Sprintf("%s (named in %s)", n, strings.Join(files, ", ")))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("not on the dispatcher's or agent's /metrics: %s", strings.Join(missing, "; "))
		}
		return nil
	})
	t.Logf("%d metrics of %d expressions found", len(from), len(exprs))
}

// scrapeNames returns the names of the samples on a /metrics page (a
// histogram's _bucket, _sum and _count included).
func scrapeNames(url string) (map[string]bool, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names, nil
}
