package dispatcher_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
)

func TestHTTPSource_Health(t *testing.T) {
	d := startDispatcher(t, testConfig(t))
	resp, err := http.Get("http://" + d.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{`"status":"ok"`, `"nats":"connected"`, `"mode":"embedded"`, `"` + events.EventsStream + `":"ok"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("healthz body %s lacks %s", body, want)
		}
	}
}
