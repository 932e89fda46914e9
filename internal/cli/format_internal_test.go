package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
)

func TestDataSnippet(t *testing.T) {
	long := make([]byte, 100)
	for i := range long {
		long[i] = 0xff
	}
	for _, tc := range []struct {
		in   []byte
		want string
		cut  bool
	}{
		{nil, `""`, false},
		{[]byte("a\x00b\"c"), `"a\x00b\"c"`, false},
		{[]byte(strings.Repeat("é", 80) + "!"), `"` + strings.Repeat("é", 80) + `"`, true},
		{long[:80], `"` + strings.Repeat(`\xff`, 80) + `"`, false},
		{long, `"` + strings.Repeat(`\xff`, 80) + `"`, true},
	} {
		got, cut := dataSnippet(tc.in)
		if got != tc.want || cut != tc.cut {
			t.Errorf("dataSnippet(%q) = %s, %v; want %s, %v", tc.in, got, cut, tc.want, tc.cut)
		}
	}
}

func TestQuoteIfNeeded(t *testing.T) {
	for in, want := range map[string]string{
		"/repos/app": "/repos/app",
		"":           `""`,
		"a b":        `"a b"`,
		"a=b":        `"a=b"`,
		"ü":          `"ü"`,
		"x\ny":       `"x\ny"`,
	} {
		if got := quoteIfNeeded(in); got != want {
			t.Errorf("quoteIfNeeded(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestFormatOutcome_Superseded(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	base := events.Outcome{EventID: "e9", EventType: "t", Key: "/k", Watch: "w", Host: "h", Status: events.StatusOK}
	for _, tc := range []struct {
		sup   []string
		count int
		want  string
	}{
		{nil, 0, ""},
		{[]string{"e1", "e2"}, 2, " superseded_count=2 superseded=e1,e2"},
		{[]string{"e5", "e6", "e7", "e8"}, 1200, " superseded_count=1200 superseded=...,e6,e7,e8"},
	} {
		o := base
		o.Superseded, o.SupersededCount = tc.sup, tc.count
		line := formatOutcome(at, o)
		has := strings.Contains(line, " superseded")
		if tc.want == "" && has || tc.want != "" && !strings.HasSuffix(line, tc.want) {
			t.Errorf("formatOutcome with %d superseded = %q, want it to end in %q", tc.count, line, tc.want)
		}
	}
}
