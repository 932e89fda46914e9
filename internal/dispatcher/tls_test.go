package dispatcher_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
)

func TestDispatcher_EmbeddedTLS(t *testing.T) {
	p := testutil.NewPKI(t)

	t.Run("serves TLS", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.NATS.TLSCert, cfg.NATS.TLSKey = p.ServerCert, p.ServerKey
		d := startDispatcher(t, cfg)
		if !strings.HasPrefix(d.ClientURL(), "tls://") {
			t.Fatalf("ClientURL() = %q, want tls://", d.ClientURL())
		}
		plain := strings.Replace(d.ClientURL(), "tls://", "nats://", 1)
		if nc, err := nats.Connect(plain); err == nil {
			nc.Close()
			t.Fatal("plain-text client accepted by a TLS server")
		}
		nc, err := nats.Connect(d.ClientURL(), nats.RootCAs(p.CA))
		if err != nil {
			t.Fatalf("TLS connect: %v", err)
		}
		defer nc.Close()
		if code, r := post(t, d, `{"type":"tls.test","key":"k","data":"over tls"}`); code != http.StatusCreated {
			t.Fatalf("POST = %d %+v", code, r)
		}
		if got := readEvents(t, nc, 1); string(got[0].Data) != "over tls" {
			t.Fatalf("stored %q", got[0].Data)
		}
	})

	t.Run("verifies client certificates with the CA", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.NATS.TLSCert, cfg.NATS.TLSKey, cfg.NATS.TLSCA = p.ServerCert, p.ServerKey, p.CA
		d := startDispatcher(t, cfg)
		if nc, err := nats.Connect(d.ClientURL(), nats.RootCAs(p.CA)); err == nil {
			nc.Close()
			t.Fatal("client without a certificate accepted")
		}
		nc, err := nats.Connect(d.ClientURL(), nats.RootCAs(p.CA), nats.ClientCert(p.ClientCert, p.ClientKey))
		if err != nil {
			t.Fatalf("connect with client certificate: %v", err)
		}
		defer nc.Close()
		if code, r := post(t, d, `{"type":"tls.test","key":"k"}`); code != http.StatusCreated {
			t.Fatalf("POST = %d %+v", code, r)
		}
	})
}
