// Package grafana_test checks the Grafana dashboard shipped in
// deploy/grafana: a current JSON model whose every query goes through the
// dashboard's Prometheus data-source variable (no data source uid of one
// Grafana), panels in titled rows with units, and expressions over the
// metrics Herald has (that they exist on a running dispatcher's or
// agent's /metrics is checked in internal/e2e,
// TestDashboards_MetricsExist). It knows nothing about Herald's code.
package grafana_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testutil/promnames"
)

// minSchemaVersion is the oldest dashboard JSON model accepted: Grafana
// 10's.
const minSchemaVersion = 36

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *dsRef `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *dsRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Datasource *dsRef `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

func readDashboard(t *testing.T) (dashboard, []byte) {
	t.Helper()
	b, err := os.ReadFile("herald.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("herald.json: %v", err)
	}
	return d, b
}

const dsVar = "${datasource}"

func TestDashboard_Model(t *testing.T) {
	d, _ := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: want both", d.UID, d.Title)
	}
	if d.SchemaVersion < minSchemaVersion {
		t.Errorf("schemaVersion %d, want at least %d", d.SchemaVersion, minSchemaVersion)
	}
	hasDS := false
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Name == "datasource" && v.Query == "prometheus" {
			hasDS = true
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != dsVar) {
			t.Errorf("variable %s: data source %+v, want uid %s", v.Name, v.Datasource, dsVar)
		}
	}
	if !hasDS {
		t.Fatal("no Prometheus data-source variable named datasource")
	}
}

// TestDashboard_PanelsInRowsWithUnits: rows come first and have titles;
// every other panel is under a row, has a title, a unit, a place, the
// data-source variable (never a fixed uid) and at least one expression
// over a metric.
func TestDashboard_PanelsInRowsWithUnits(t *testing.T) {
	d, _ := readDashboard(t)
	if len(d.Panels) == 0 || d.Panels[0].Type != "row" {
		t.Fatal("the dashboard does not start with a row")
	}
	ids := map[int]bool{}
	rows := 0
	var all []panel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	for _, p := range all {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" {
			t.Errorf("panel %d (%s) has no title", p.ID, p.Type)
		}
		if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("%q: gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			rows++
			continue
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("%q: no unit", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != dsVar || p.Datasource.Type != "prometheus" {
			t.Errorf("%q: data source %+v, want the variable %s", p.Title, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%q: no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource != nil && tg.Datasource.UID != dsVar {
				t.Errorf("%q target %s: data source uid %q, want %s", p.Title, tg.RefID, tg.Datasource.UID, dsVar)
			}
			names, err := promnames.MetricNames(tg.Expr)
			if err != nil {
				t.Errorf("%q target %s: %v", p.Title, tg.RefID, err)
			} else if len(names) == 0 {
				t.Errorf("%q target %s: %q names no metric", p.Title, tg.RefID, tg.Expr)
			}
		}
	}
	if rows < 4 {
		t.Errorf("%d rows, want the panels grouped in rows", rows)
	}
}

// TestDashboard_NoFixedDatasource: no data source is named by a uid
// other than the variable anywhere in the file.
func TestDashboard_NoFixedDatasource(t *testing.T) {
	_, b := readDashboard(t)
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			if ds, ok := x["datasource"].(map[string]any); ok {
				if uid, _ := ds["uid"].(string); uid != dsVar && ds["type"] != "grafana" {
					t.Errorf("%s: datasource uid %q, want %s", path, uid, dsVar)
				}
			}
			if s, ok := x["datasource"].(string); ok {
				t.Errorf("%s: datasource given by name %q, want {type, uid: %s}", path, s, dsVar)
			}
			for k, c := range x {
				walk(c, path+"."+k)
			}
		case []any:
			for _, c := range x {
				walk(c, path+"[]")
			}
		}
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	walk(v, "$")
}

// TestDashboard_Covers: the dashboard shows what issue 13 asked of it:
// events in, runs by status, run duration and event-to-start latency,
// collapsed and discarded events, read-backs, agents live, the kill
// switch.
func TestDashboard_Covers(t *testing.T) {
	_, b := readDashboard(t)
	exprs, err := promnames.DashboardExprs(b)
	if err != nil {
		t.Fatal(err)
	}
	names, err := promnames.AllNames(exprs)
	if err != nil {
		t.Fatal(err)
	}
	have := strings.Join(names, " ")
	for _, want := range []string{
		"herald_dispatcher_events_published_total", "herald_dispatcher_publish_errors_total",
		"herald_agent_runs_total", "herald_agent_run_duration_seconds_bucket",
		"herald_agent_event_start_latency_seconds_bucket", "herald_agent_collapsed_total",
		"herald_agent_discarded_total", "herald_agent_redeliveries_total",
		"herald_fleet_agents", "herald_dispatcher_hooks_disabled",
	} {
		if !strings.Contains(" "+have+" ", " "+want+" ") {
			t.Errorf("no panel over %s", want)
		}
	}
}
