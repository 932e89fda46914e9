package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// target is a figure's goal: value must be op ("<=" or ">=") target.
type target struct {
	op    string
	value float64
	unit  string
}

func (t *target) met(v float64) bool {
	if t.op == "<=" {
		return v <= t.value
	}
	return v >= t.value
}

func (t *target) String() string {
	op := map[string]string{"<=": "≤", ">=": "≥"}[t.op]
	v := thousands(int64(t.value))
	if t.value != math.Trunc(t.value) {
		v = strconv.FormatFloat(t.value, 'f', -1, 64)
	}
	return strings.TrimSpace(fmt.Sprintf("%s %s %s", op, v, t.unit))
}

// result is one figure of one scenario run: a number, or for a check a
// text and whether it passed.
type result struct {
	scenario, metric string
	value            float64
	unit             string
	target           *target
	isCheck          bool
	text             string
	pass             bool
}

func num(scenario, metric string, v float64, unit string, t *target) result {
	return result{scenario: scenario, metric: metric, value: v, unit: unit, target: t}
}

func check(scenario, metric, text string, pass bool) result {
	return result{scenario: scenario, metric: metric, isCheck: true, text: text, pass: pass}
}

func (r result) formatOne() string {
	if r.isCheck {
		return r.text
	}
	return strings.TrimSpace(formatValue(r.value, r.unit) + " " + r.unit)
}

// formatValue prints ms with two decimals, MiB with one, counts and rates
// as integers with thousands separators.
func formatValue(v float64, unit string) string {
	switch unit {
	case "ms":
		return strconv.FormatFloat(v, 'f', 2, 64)
	case "MiB", "MB":
		return strconv.FormatFloat(v, 'f', 1, 64)
	case "s":
		return strconv.FormatFloat(v, 'f', 2, 64)
	case "x":
		return strconv.FormatFloat(v, 'f', 2, 64)
	case "µs":
		return strconv.FormatFloat(v, 'f', 1, 64)
	case "% of a core":
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return thousands(int64(math.Round(v)))
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// stats are order statistics of a sample.
type stats struct{ p50, p90, p99, max float64 }

func summarize(xs []float64) stats {
	s := slices.Clone(xs)
	slices.Sort(s)
	return stats{p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: percentile(s, 100)}
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted
// values; NaN for none.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// median of values (the mean of the middle two for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// row is one figure over every run.
type row struct {
	first  result
	values []float64
	texts  []string
	pass   bool
}

// aggregate groups results by scenario and metric, in first-seen order.
func aggregate(runs [][]result) []*row {
	var rows []*row
	index := map[string]*row{}
	for _, rs := range runs {
		for _, r := range rs {
			k := r.scenario + "\x00" + r.metric
			x := index[k]
			if x == nil {
				x = &row{first: r, pass: true}
				index[k] = x
				rows = append(rows, x)
			}
			if r.isCheck {
				x.texts = append(x.texts, r.text)
				x.pass = x.pass && r.pass
			} else {
				x.values = append(x.values, r.value)
			}
		}
	}
	return rows
}

func (x *row) value(runs int) string {
	r := x.first
	if r.isCheck {
		if len(x.texts) > 1 && slices.Equal(x.texts, slices.Repeat(x.texts[:1], len(x.texts))) {
			return x.texts[0]
		}
		return strings.Join(x.texts, " | ")
	}
	s := strings.TrimSpace(formatValue(median(x.values), r.unit) + " " + r.unit)
	if runs > 1 || len(x.values) > 1 {
		s += fmt.Sprintf(" (%s–%s, n=%d)", formatValue(slices.Min(x.values), r.unit), formatValue(slices.Max(x.values), r.unit), len(x.values))
	}
	return s
}

func (x *row) targetAndMet() (string, string) {
	r := x.first
	switch {
	case r.isCheck:
		if x.pass {
			return "must hold", "yes"
		}
		return "must hold", "NO"
	case r.target != nil:
		if r.target.met(median(x.values)) {
			return r.target.String(), "yes"
		}
		return r.target.String(), "NO"
	}
	return "", ""
}

// printTable prints scenario | metric | value | target | met?. Values are
// medians over runs with the spread (min–max) when there was more than one.
func printTable(w io.Writer, rows []*row, runs int, format string) {
	head := []string{"scenario", "metric", "value", "target", "met?"}
	lines := [][]string{}
	for _, x := range rows {
		t, met := x.targetAndMet()
		lines = append(lines, []string{x.first.scenario, x.first.metric, x.value(runs), t, met})
	}
	if format == "markdown" {
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
		for _, l := range lines {
			fmt.Fprintf(w, "| %s |\n", strings.Join(l, " | "))
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, l := range lines {
		fmt.Fprintln(tw, strings.Join(l, "\t"))
	}
	_ = tw.Flush()
}

// machine describes where the figures were taken.
type machine struct {
	cpus     int
	model    string
	memTotal string
	goVer    string
	kernel   string
	load     string
	date     time.Time
}

func readMachine() machine {
	m := machine{cpus: runtime.NumCPU(), goVer: runtime.Version(), date: time.Now()}
	m.model = procField("/proc/cpuinfo", "model name", ":")
	if kb, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal", ":"), " kB"), 10, 64); err == nil {
		m.memTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	m.load = loadAverage()
	return m
}

// loadAverage is the 1, 5 and 15 minute load average, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// procField returns the value of the first "name<sep> value" line of a
// /proc file, or "unknown".
func procField(path, name, sep string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, sep)
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func (m machine) print(w io.Writer) {
	fmt.Fprintf(w, "machine: %d CPUs (nproc), %s, %s RAM, Linux %s, %s %s/%s\n", m.cpus, m.model, m.memTotal, m.kernel, m.goVer, runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "date:    %s, load average at start %s\n", m.date.Format(time.RFC3339), m.load)
}
