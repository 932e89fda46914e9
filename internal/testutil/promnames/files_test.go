package promnames_test

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testutil/promnames"
)

func TestDashboardExprs(t *testing.T) {
	b := []byte(`{
  "panels": [
    {"type": "row", "panels": [{"targets": [{"expr": "rate(in_row_total[5m])"}]}]},
    {"type": "timeseries", "targets": [{"expr": "a"}, {"expr": "b{x=\"1\"}"}, {"refId": "C"}]}
  ],
  "templating": {"list": [
    {"type": "datasource", "query": "prometheus"},
    {"type": "query", "query": {"query": "label_values(v1{job=\"x\"}, instance)"}},
    {"type": "query", "query": "label_values(v2, watch)"},
    {"type": "query", "query": "query_result(max by (x) (v3))"}
  ]}
}`)
	exprs, err := promnames.DashboardExprs(b)
	if err != nil {
		t.Fatal(err)
	}
	names, err := promnames.AllNames(exprs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(names, ","), "a,b,in_row_total,v1,v2,v3"; got != want {
		t.Errorf("names = %q (from %q), want %q", got, exprs, want)
	}
	if _, err := promnames.DashboardExprs([]byte(`{"panels": [`)); err == nil {
		t.Error("a truncated dashboard parsed")
	}
}

func TestRuleExprs(t *testing.T) {
	exprs, err := promnames.RuleExprs([]byte(`
groups:
  - name: g
    rules:
      - alert: A
        expr: up == 0
      - record: job:x:rate5m
        expr: sum by (job) (rate(x_total[5m]))
`))
	if err != nil {
		t.Fatal(err)
	}
	names, err := promnames.AllNames(exprs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(names, ","), "up,x_total"; got != want {
		t.Errorf("names = %q, want %q", got, want)
	}
}
