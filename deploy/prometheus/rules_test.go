// Package prometheus_test checks the alerting rules shipped in
// deploy/prometheus with Prometheus's own promtool: they parse
// (`promtool check rules`), each fires on the series it is about and not
// on its near misses (`promtool test rules alerts_test.yaml`), and each
// has a `for:`, a severity and annotations naming what it is about. That
// the metrics they name exist is checked against the real binaries in
// internal/e2e (TestDashboards_MetricsExist). It knows nothing about
// Herald's code.
package prometheus_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// requirePromtool fails, saying how to install it, when promtool is
// missing: these checks must not pass by skipping.
func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not on PATH (%v): run `apt-get install -y prometheus` (.ci/run does; no Prometheus needs to run)", err)
	}
	return p
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(requirePromtool(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
}

func TestAlerts_PromtoolCheckRules(t *testing.T) {
	promtool(t, "check", "rules", "alerts.yaml")
}

func TestAlerts_PromtoolTestRules(t *testing.T) {
	promtool(t, "test", "rules", "alerts_test.yaml")
}

// rule is the part of an alerting rule these tests read.
type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatal("alerts.yaml holds no rules")
	}
	return rules
}

// TestAlerts_EachHasForSeverityAndNames: every alert waits (for:), says
// how bad it is (severity critical or warning) and names the agent,
// watch or dispatcher it is about in its summary and description, by a
// label its expression keeps.
func TestAlerts_EachHasForSeverityAndNames(t *testing.T) {
	for _, r := range readRules(t) {
		if r.Alert == "" {
			t.Errorf("a rule without alert: %q (recording rules belong elsewhere)", r.Expr)
			continue
		}
		if r.For == "" {
			t.Errorf("%s: no for:", r.Alert)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		named := false
		for _, l := range []string{"agent", "watch", "instance"} {
			ref := "$labels." + l
			if strings.Contains(r.Annotations["summary"], ref) && strings.Contains(r.Annotations["description"], ref) {
				named = true
				if !strings.Contains(r.Expr, l) {
					t.Errorf("%s: annotations name %s, which its expression does not keep (by (...))", r.Alert, ref)
				}
			}
		}
		if !named {
			t.Errorf("%s: summary and description name no agent, watch or instance: %q / %q", r.Alert, r.Annotations["summary"], r.Annotations["description"])
		}
	}
}

// TestAlerts_EachIsUnitTested: every alert has a promtool unit test in
// alerts_test.yaml that expects it to fire.
func TestAlerts_EachIsUnitTested(t *testing.T) {
	b, err := os.ReadFile("alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("alerts_test.yaml: %v", err)
	}
	fires := map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	for _, r := range readRules(t) {
		if !fires[r.Alert] {
			t.Errorf("%s: no test in alerts_test.yaml expects it to fire", r.Alert)
		}
	}
}
