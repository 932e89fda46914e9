// Package display is how Herald shows durations and run endings to
// people, the same in the herald CLI's tables and the web console's pages.
// It knows nothing of NATS, HTTP, terminals or templates.
package display

import (
	"fmt"
	"strconv"
	"time"
)

// Age formats a duration coarsely: 45s, 3m05s, 2h07m, 3d04h (a negative
// one as 0s).
func Age(d time.Duration) string {
	d = max(d, 0).Truncate(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// Exit is how a run ended: its exit code, "sig NAME" when a signal killed
// it, "-" when neither is known.
func Exit(code *int, signal string) string {
	switch {
	case code != nil:
		return strconv.Itoa(*code)
	case signal != "":
		return "sig " + signal
	}
	return "-"
}
