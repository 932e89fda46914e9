package dispatcher_test

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/dispatcher"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfig_Validate(t *testing.T) {
	if err := dispatcher.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		field string
		edit  func(*dispatcher.Config)
	}{
		{"nats_listen", func(c *dispatcher.Config) { c.NATSListen = "4222" }},
		{"nats_listen", func(c *dispatcher.Config) { c.NATSListen = "127.0.0.1:99999" }},
		{"data", func(c *dispatcher.Config) { c.Data = "" }},
		{"http", func(c *dispatcher.Config) { c.HTTP = "localhost" }},
		{"log_format", func(c *dispatcher.Config) { c.LogFormat = "xml" }},
		{"log_level", func(c *dispatcher.Config) { c.LogLevel = "loud" }},
		{"connect_timeout", func(c *dispatcher.Config) { c.ConnectTimeout = 0 }},
		{"shutdown_timeout", func(c *dispatcher.Config) { c.ShutdownTimeout = -time.Second }},
		{"streams.dedup_window", func(c *dispatcher.Config) { c.Streams.DedupWindow = 0 }},
		{"streams.replicas", func(c *dispatcher.Config) { c.Streams.Replicas = 3 }},
		{"nats.password", func(c *dispatcher.Config) { c.NATS.User = "u" }},
		{"nats.user", func(c *dispatcher.Config) { c.NATS.Password = "p" }},
		{"nats.creds", func(c *dispatcher.Config) { c.NATS.Creds = "/x.creds" }},
		{"nats.tls_ca", func(c *dispatcher.Config) { c.NATS.TLSCA = "/ca.pem" }},
		{"nats-tls-key", func(c *dispatcher.Config) { c.NATS.TLSCert = "/cert.pem" }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := dispatcher.DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if !errors.Is(err, dispatcher.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate = %v, want ErrInvalidConfig naming %s", err, tt.field)
			}
		})
	}

	t.Run("external server: no data dir, replicas allowed", func(t *testing.T) {
		c := dispatcher.DefaultConfig()
		c.NATS.URL = "nats://a:4222,nats://b:4222"
		c.Data = ""
		c.NATSListen = ""
		c.Streams.Replicas = 3
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("http empty disables it", func(t *testing.T) {
		c := dispatcher.DefaultConfig()
		c.HTTP = ""
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConfig_LoadConfigFile(t *testing.T) {
	t.Run("every key", func(t *testing.T) {
		p := writeFile(t, "dispatcher.yaml", `
nats_listen: 0.0.0.0:4333
data: /srv/herald
http: ""
nats:
  user: herald
  password: pw
streams:
  dedup_window: 5m
  events_per_key: 8
  events_max_age: 48h
  outcomes_per_subject: 9
  outcomes_max_age: 1h
  replicas: 1
log_format: console
log_level: debug
ready_file: /run/herald/ready.json
connect_timeout: 5s
shutdown_timeout: 3s
ui: false
`)
		c := dispatcher.DefaultConfig()
		if err := c.LoadConfigFile(p); err != nil {
			t.Fatal(err)
		}
		want := dispatcher.DefaultConfig()
		want.NATSListen, want.Data, want.HTTP = "0.0.0.0:4333", "/srv/herald", ""
		want.NATS.User, want.NATS.Password = "herald", "pw"
		want.Streams.DedupWindow, want.Streams.EventsPerKey, want.Streams.EventsMaxAge = 5*time.Minute, 8, 48*time.Hour
		want.Streams.OutcomesPerSubject, want.Streams.OutcomesMaxAge = 9, time.Hour
		want.LogFormat, want.LogLevel = "console", "debug"
		want.ReadyFile, want.ConnectTimeout, want.ShutdownTimeout = "/run/herald/ready.json", 5*time.Second, 3*time.Second
		want.UI = false
		if !reflect.DeepEqual(c, want) {
			t.Fatalf("loaded\n%+v\nwant\n%+v", c, want)
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unknown key names file and line", func(t *testing.T) {
		p := writeFile(t, "bad.yaml", "data: /x\nnats:\n  url: nats://h:4222\n  passwd: nope\n")
		c := dispatcher.DefaultConfig()
		err := c.LoadConfigFile(p)
		if !errors.Is(err, dispatcher.ErrInvalidConfig) {
			t.Fatalf("LoadConfigFile = %v, want ErrInvalidConfig", err)
		}
		if !strings.Contains(err.Error(), p+":4:") || !strings.Contains(err.Error(), "passwd") {
			t.Fatalf("error %q does not name %s:4 and the key", err, p)
		}
	})

	t.Run("bad duration names file and line", func(t *testing.T) {
		p := writeFile(t, "bad.yaml", "streams:\n  dedup_window: soon\n")
		c := dispatcher.DefaultConfig()
		err := c.LoadConfigFile(p)
		if err == nil || !strings.Contains(err.Error(), p+":2:") {
			t.Fatalf("LoadConfigFile = %v, want %s:2", err, p)
		}
	})

	t.Run("syntax error names file and line", func(t *testing.T) {
		p := writeFile(t, "bad.yaml", "data: /x\nhttp: [\n")
		c := dispatcher.DefaultConfig()
		err := c.LoadConfigFile(p)
		if err == nil || !strings.Contains(err.Error(), p+":") {
			t.Fatalf("LoadConfigFile = %v, want it to name %s", err, p)
		}
	})

	t.Run("the example in deploy/examples is the defaults", func(t *testing.T) {
		c := dispatcher.DefaultConfig()
		c.Data, c.HTTP = "", ""
		if err := c.LoadConfigFile("../../deploy/examples/dispatcher.yaml"); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, dispatcher.DefaultConfig()) {
			t.Fatalf("example loads as\n%+v\nwant the defaults\n%+v", c, dispatcher.DefaultConfig())
		}
	})

	t.Run("empty file keeps the defaults", func(t *testing.T) {
		p := writeFile(t, "empty.yaml", "")
		c := dispatcher.DefaultConfig()
		if err := c.LoadConfigFile(p); err != nil || !reflect.DeepEqual(c, dispatcher.DefaultConfig()) {
			t.Fatalf("LoadConfigFile = %v, %+v", err, c)
		}
	})
}

func TestParseArgs(t *testing.T) {
	t.Run("flags override the file, the file overrides defaults", func(t *testing.T) {
		p := writeFile(t, "d.yaml", "data: /from/file\nhttp: 127.0.0.1:8000\nlog_level: warn\nstreams:\n  events_per_key: 3\n")
		c, err := dispatcher.ParseArgs([]string{"--http", "127.0.0.1:9000", "--config", p, "--nats-listen", "127.0.0.1:0"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.HTTP != "127.0.0.1:9000" || c.NATSListen != "127.0.0.1:0" {
			t.Errorf("explicit flags lost: http %q nats_listen %q", c.HTTP, c.NATSListen)
		}
		if c.Data != "/from/file" || c.LogLevel != "warn" || c.Streams.EventsPerKey != 3 {
			t.Errorf("file values lost: %+v", c)
		}
		if c.LogFormat != "json" || c.Streams.DedupWindow != 2*time.Minute {
			t.Errorf("defaults lost: %+v", c)
		}
	})

	t.Run("an explicit flag equal to the default still overrides", func(t *testing.T) {
		p := writeFile(t, "d.yaml", "log_format: console\n")
		c, err := dispatcher.ParseArgs([]string{"--config", p, "--log-format", "json"}, io.Discard)
		if err != nil || c.LogFormat != "json" {
			t.Fatalf("ParseArgs = %+v, %v; want log_format json", c, err)
		}
	})

	t.Run("nats flags", func(t *testing.T) {
		tok := writeFile(t, "token", "tok\n")
		c, err := dispatcher.ParseArgs([]string{"--nats", "nats://a:1,nats://b:2", "--nats-token-file", tok, "--data", ""}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Embedded() || c.NATS.URL != "nats://a:1,nats://b:2" || c.NATS.Token != "tok" {
			t.Fatalf("nats config = %+v", c.NATS)
		}
	})

	t.Run("secret from the environment", func(t *testing.T) {
		t.Setenv("HERALD_NATS_TOKEN", "from-env")
		c, err := dispatcher.ParseArgs(nil, io.Discard)
		if err != nil || c.NATS.Token != "from-env" {
			t.Fatalf("ParseArgs = %+v, %v", c.NATS, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want error
		}{
			{[]string{"--bogus"}, dispatcher.ErrUsage},
			{[]string{"stray"}, dispatcher.ErrUsage},
			{[]string{"--log-format", "xml"}, dispatcher.ErrInvalidConfig},
			{[]string{"--config", "/does/not/exist.yaml"}, dispatcher.ErrInvalidConfig},
			{[]string{"--nats-token", "tok"}, dispatcher.ErrInvalidConfig},
			{[]string{"--nats-user", "u", "--nats-password", "pw"}, dispatcher.ErrInvalidConfig},
			{[]string{"--nats-user", "u", "--nats-password-file", "/does/not/exist"}, dispatcher.ErrInvalidConfig},
		} {
			if _, err := dispatcher.ParseArgs(tt.args, io.Discard); !errors.Is(err, tt.want) {
				t.Errorf("ParseArgs(%q) = %v, want %v", tt.args, err, tt.want)
			}
		}
		if _, err := dispatcher.ParseArgs([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("-h = %v, want flag.ErrHelp", err)
		}
	})
}
