package dispatcher_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

// newPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files.
func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "herald test ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	sDER, sKey := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	cDER, cKey := leaf(3, "herald-client", x509.ExtKeyUsageClientAuth)
	return pki{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", sDER),
		serverKey:  write("server-key.pem", "EC PRIVATE KEY", keyDER(sKey)),
		clientCert: write("client.pem", "CERTIFICATE", cDER),
		clientKey:  write("client-key.pem", "EC PRIVATE KEY", keyDER(cKey)),
	}
}

func TestDispatcher_EmbeddedTLS(t *testing.T) {
	p := newPKI(t)

	t.Run("serves TLS", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.NATS.TLSCert, cfg.NATS.TLSKey = p.serverCert, p.serverKey
		d := startDispatcher(t, cfg)
		if !strings.HasPrefix(d.ClientURL(), "tls://") {
			t.Fatalf("ClientURL() = %q, want tls://", d.ClientURL())
		}
		plain := strings.Replace(d.ClientURL(), "tls://", "nats://", 1)
		if nc, err := nats.Connect(plain); err == nil {
			nc.Close()
			t.Fatal("plain-text client accepted by a TLS server")
		}
		nc, err := nats.Connect(d.ClientURL(), nats.RootCAs(p.ca))
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
		cfg.NATS.TLSCert, cfg.NATS.TLSKey, cfg.NATS.TLSCA = p.serverCert, p.serverKey, p.ca
		d := startDispatcher(t, cfg)
		if nc, err := nats.Connect(d.ClientURL(), nats.RootCAs(p.ca)); err == nil {
			nc.Close()
			t.Fatal("client without a certificate accepted")
		}
		nc, err := nats.Connect(d.ClientURL(), nats.RootCAs(p.ca), nats.ClientCert(p.clientCert, p.clientKey))
		if err != nil {
			t.Fatalf("connect with client certificate: %v", err)
		}
		defer nc.Close()
		if code, r := post(t, d, `{"type":"tls.test","key":"k"}`); code != http.StatusCreated {
			t.Fatalf("POST = %d %+v", code, r)
		}
	})
}
