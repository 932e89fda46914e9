package promnames_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testutil/promnames"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want string // comma-separated, sorted
	}{
		{`up`, "up"},
		{`herald_agent_watches`, "herald_agent_watches"},
		{`herald_agent_watches{instance="a:9100", job='x'}`, "herald_agent_watches"},
		{`rate(herald_agent_runs_total[5m])`, "herald_agent_runs_total"},
		{`sum by (watch, status) (rate(herald_agent_runs_total{job=~"herald.*"}[$__rate_interval]))`, "herald_agent_runs_total"},
		{`sum(rate(a_total[5m])) by (instance) / ignoring(status) group_left sum(rate(b_total[5m])) without (status)`, "a_total,b_total"},
		{`a * on(instance) group_left(agent, host) b`, "a,b"},
		{`histogram_quantile(0.99, sum by (le, watch) (rate(herald_agent_run_duration_seconds_bucket[10m])))`, "herald_agent_run_duration_seconds_bucket"},
		{`max_over_time(x_seconds[1h:5m]) offset -5m > 1e+3 and bool y`, "x_seconds,y"},
		{`a unless b or c and d`, "a,b,c,d"},
		{`SUM BY (watch) (a) AND ON (watch) b`, "a,b"},
		{`label_replace(up, "dst", "$1", "src", "(.*)")`, "up"},
		{`count_values("version", build_info)`, "build_info"},
		{`topk(5, increase(x_total{a="}]) by (z"}[1h]))`, "x_total"},
		{"a{b=`raw \\ }`} + c", "a,c"},
		{`absent(y) or vector(0) + time() - timestamp(z) @ start()`, "y,z"},
		{`a:recorded:rate5m / 0x1f * .5 + inf - NaN`, "a:recorded:rate5m"},
		{"a # a comment with b_total(\n + c", "a,c"},
		{`rate(x[${__range}]) / $var + y{i="$instance"} * [[old]]`, "x,y"},
		{`1 + 2`, ""},
		{`a+b`, "a,b"},
		{`avg without (le) (a) + count by(x)(b)`, "a,b"},
		{`sum(rate(x[5m]))by(instance)`, "x"},
	} {
		got, err := promnames.MetricNames(tc.expr)
		if err != nil {
			t.Errorf("MetricNames(%q): %v", tc.expr, err)
			continue
		}
		if g := strings.Join(got, ","); g != tc.want {
			t.Errorf("MetricNames(%q) = %q, want %q", tc.expr, g, tc.want)
		}
	}
}

func TestMetricNames_Unclosed(t *testing.T) {
	for _, expr := range []string{
		`a{b="c}`, `a{b="c"`, `rate(a[5m)`, `rate(a[5m]`, `a)`, `sum by (x a`, `a}`, `b]`, `${x`, `[[x`, `'a`,
	} {
		if _, err := promnames.MetricNames(expr); !errors.Is(err, promnames.ErrSyntax) {
			t.Errorf("MetricNames(%q) = %v, want ErrSyntax", expr, err)
		}
	}
}
