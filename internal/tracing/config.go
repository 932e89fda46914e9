package tracing

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/heraldhq/herald/internal/fielderr"
)

// ErrInvalidConfig wraps every problem with the tracing settings.
var ErrInvalidConfig = errors.New("invalid tracing config")

// Config is where spans go. The zero value is off.
type Config struct {
	// Endpoint is the collector's OTLP/HTTP URL: http:// (plain) or
	// https:// (TLS, the system's roots); a URL without a path gets
	// /v1/traces. Empty: no export, no SDK.
	Endpoint string `yaml:"endpoint"`
	// HeadersFile holds the export request's headers (a collector's
	// token), one "Name: value" a line; without it the SDK's
	// OTEL_EXPORTER_OTLP_HEADERS applies. Never a flag value.
	HeadersFile string `yaml:"headers_file"`
}

// AddFlags binds --otlp-endpoint and --otlp-headers-file to c.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Endpoint, "otlp-endpoint", c.Endpoint, "export spans over OTLP/HTTP to `URL` (http:// or https://; no path: /v1/traces); off when empty")
	fs.StringVar(&c.HeadersFile, "otlp-headers-file", c.HeadersFile, "`file` of the OTLP export's headers, one 'Name: value' a line (or $OTEL_EXPORTER_OTLP_HEADERS)")
}

// Validate names the bad key: otlp.endpoint or otlp.headers_file (the
// daemons' config keys; the flags are --otlp-endpoint and
// --otlp-headers-file).
func (c Config) Validate() error {
	if c.Endpoint == "" {
		if c.HeadersFile != "" {
			return fielderr.New(ErrInvalidConfig, "otlp.headers_file", "given without otlp.endpoint")
		}
		return nil
	}
	u, err := url.Parse(c.Endpoint)
	switch {
	case err != nil:
		return fielderr.New(ErrInvalidConfig, "otlp.endpoint", "not a URL: %v", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fielderr.New(ErrInvalidConfig, "otlp.endpoint", "%q: want an http:// or https:// URL", u.Redacted())
	case u.Host == "":
		return fielderr.New(ErrInvalidConfig, "otlp.endpoint", "%q has no host", u.Redacted())
	case u.User != nil:
		return fielderr.New(ErrInvalidConfig, "otlp.endpoint", "%q carries credentials: put them in otlp.headers_file", u.Redacted())
	}
	return nil
}

// exportURL is the URL spans are posted to.
func (c Config) exportURL() string {
	u, _ := url.Parse(c.Endpoint)
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String()
}

// readHeaders reads HeadersFile. Errors name the file and line, never a
// value.
func readHeaders(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fielderr.New(ErrInvalidConfig, "otlp.headers_file", "%v", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || value == "" || !validHeaderName(name) {
			return nil, fielderr.New(ErrInvalidConfig, "otlp.headers_file", "%s:%d: want 'Name: value'", path, n)
		}
		out[http.CanonicalHeaderKey(name)] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fielderr.New(ErrInvalidConfig, "otlp.headers_file", "%s: %v", path, err)
	}
	if len(out) == 0 {
		return nil, fielderr.New(ErrInvalidConfig, "otlp.headers_file", "%s: no header", path)
	}
	return out, nil
}

// validHeaderName reports whether s is an HTTP token.
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
