package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestZKVersionPrefix(t *testing.T) {
	p := zkVersionPrefix(0x1f)
	if p != "m0x1f." {
		t.Fatalf("prefix %q", p)
	}
	if !strings.HasPrefix("m0x1f.v3.c0x1a", p) {
		t.Error("the version of that write does not match")
	}
	for _, other := range []string{"m0x1f0.v4.c0x1a", "m0x1.v1.c0x1", "d0x1f", "p0x1f"} {
		if strings.HasPrefix(other, p) {
			t.Errorf("version %q of another write matches %q", other, p)
		}
	}
}

func TestWatchedLine_ParsesDispatcherLog(t *testing.T) {
	// took_ms today; took from binaries before the *_ms fields.
	for _, field := range []string{"took_ms", "took"} {
		line := `{"level":"info","source":"zk","znodes":10101,"roots":["/scale/**"],"` + field + `":1690.5,"published":10101,"time":"2026-11-25T10:29:05.123456789Z","message":"zk: watches set"}`
		var l watchedLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		want := watchedLine{Time: time.Date(2026, 11, 25, 10, 29, 5, 123456789, time.UTC), Znodes: 10101, Published: 10101}
		if !l.Time.Equal(want.Time) || l.Znodes != want.Znodes || l.Published != want.Published || l.tookMS() != 1690.5 {
			t.Errorf("%s: parsed %+v", field, l)
		}
	}
}

func TestFormatValue_SecondsAndMB(t *testing.T) {
	if got := formatValue(1.7234, "s"); got != "1.72" {
		t.Errorf("s: %q", got)
	}
	if got := formatValue(mb(63.6), "MB"); got != "66.7" {
		t.Errorf("63.6 MiB in MB: %q", got)
	}
	if !targetZKRSS.met(100) || targetZKRSS.met(100.1) || !targetZKWatched.met(10) || targetZKWatched.met(10.01) {
		t.Error("zk targets")
	}
}
