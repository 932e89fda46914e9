package version_test

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/version"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "90ab41ff00469e413af6e7d5b22eb01c8065bb27"},
		{Key: "vcs.time", Value: "2026-12-01T08:35:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := []struct {
		name      string
		release   string
		bi        *debug.BuildInfo
		wantLine  string
		wantShort string
	}{
		{
			name:      "checkout with changes",
			release:   "dev",
			bi:        &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/heraldhq/herald", Version: "(devel)"}, Settings: vcs},
			wantLine:  "herald devel (revision 90ab41ff00469e413af6e7d5b22eb01c8065bb27, 2026-12-01T08:35:00Z, modified) go1.26.8 ",
			wantShort: "devel+90ab41ff0046-modified",
		},
		{
			name:      "go install of a tag",
			release:   "dev",
			bi:        &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}},
			wantLine:  "herald v1.4.0 (no vcs information) go1.26.8 ",
			wantShort: "v1.4.0",
		},
		{
			name:      "ldflags win",
			release:   "v2.0.0",
			bi:        &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs[:3]},
			wantLine:  "herald v2.0.0 (revision 90ab41ff00469e413af6e7d5b22eb01c8065bb27, 2026-12-01T08:35:00Z) go1.26.8 ",
			wantShort: "v2.0.0",
		},
		{
			name:      "no build info",
			release:   "dev",
			wantLine:  "herald devel (no vcs information) go",
			wantShort: "devel",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := version.FromBuildInfo(tt.release, tt.bi)
			if got := in.String("herald"); !strings.HasPrefix(got, tt.wantLine) {
				t.Errorf("String = %q, want prefix %q", got, tt.wantLine)
			}
			if got := in.Short(); got != tt.wantShort {
				t.Errorf("Short = %q, want %q", got, tt.wantShort)
			}
		})
	}
}
