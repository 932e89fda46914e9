package display_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/display"
)

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                   "0s",
		1500 * time.Millisecond:        "1s",
		59 * time.Second:               "59s",
		3*time.Minute + 5*time.Second:  "3m05s",
		2*time.Hour + 7*time.Minute:    "2h07m",
		47*time.Hour + 59*time.Minute:  "47h59m",
		3*24*time.Hour + 4*time.Hour:   "3d04h",
		400*24*time.Hour + time.Minute: "400d00h",
	} {
		if got := display.Age(d); got != want {
			t.Errorf("Age(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestExit(t *testing.T) {
	three := 3
	if got := display.Exit(&three, "SIGKILL"); got != "3" {
		t.Errorf("code and signal: %q", got)
	}
	if got := display.Exit(nil, "SIGKILL"); got != "sig SIGKILL" {
		t.Errorf("signal: %q", got)
	}
	if got := display.Exit(nil, ""); got != "-" {
		t.Errorf("neither: %q", got)
	}
}
