package logging_test

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/internal/fielderr"
	"github.com/heraldhq/herald/internal/logging"
)

func TestCheckConfig(t *testing.T) {
	errThing := errors.New("invalid thing config")
	for _, tc := range []struct {
		format, level, field, want string
	}{
		{"json", "info", "", ""},
		{"console", "debug", "", ""},
		{"xml", "info", "log_format", `invalid thing config: log_format: "xml": want json or console`},
		{"", "info", "log_format", `invalid thing config: log_format: "": want json or console`},
		{"json", "loud", "log_level", `invalid thing config: log_level: "loud": want debug, info, warn or error`},
		{"json", "", "log_level", `invalid thing config: log_level: "": want debug, info, warn or error`},
	} {
		err := logging.CheckConfig(errThing, tc.format, tc.level)
		if tc.want == "" {
			if err != nil {
				t.Errorf("CheckConfig(%q, %q) = %v, want nil", tc.format, tc.level, err)
			}
			continue
		}
		var fe *fielderr.Error
		if err == nil || err.Error() != tc.want || !errors.Is(err, errThing) || !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("CheckConfig(%q, %q) = %v, want %q naming %s", tc.format, tc.level, err, tc.want, tc.field)
		}
	}
}
