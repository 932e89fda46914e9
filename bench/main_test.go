package main

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/fielderr"
)

func TestParseFlags_Fleet(t *testing.T) {
	c, err := parseFlags([]string{"-scenarios", "fleet,procs200", "-agents", "5000", "-cluster", "-events", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Scenarios) != 2 || c.Scenarios[0] != scFleet || c.Scenarios[1] != scProcs || c.Agents != 5000 || !c.Cluster || c.Events != 7 {
		t.Errorf("parsed %+v", c)
	}
	c, err = parseFlags([]string{"-scenarios", "fleet"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster || c.Events != 20 {
		t.Errorf("defaults: cluster %v, events %d; want false, 20", c.Cluster, c.Events)
	}
	c, err = parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(c.Scenarios, scFleet) || slices.Contains(c.Scenarios, scProcs) || !slices.Contains(c.Scenarios, scLatency20) {
		t.Errorf("default scenarios %v: want the others, without fleet and procs200", c.Scenarios)
	}
}

func TestParseFlags_FleetErrorsNameTheField(t *testing.T) {
	for _, c := range []struct {
		args  []string
		field string
		msg   string
	}{
		{[]string{"-scenarios", "fleet", "-events", "0"}, "-events", "at least 1"},
		{[]string{"-scenarios", "fleet", "-agents", "100001"}, "-agents", "more than 100000"},
		{[]string{"-scenarios", "fleet", "-agents", "0"}, "-agents", "at least 1"},
		{[]string{"-scenarios", "fleet", "-agent-heartbeat", "10ms"}, "-agent-heartbeat", "at least 100ms"},
		{[]string{"-scenarios", "fleet", "-agent-verify", "-1s"}, "-agent-verify", "not be negative"},
		{[]string{"-scenarios", "latency1,procs200", "-cluster"}, "-cluster", "only the fleet scenario"},
		{[]string{"-scenarios", "fleets"}, "-scenarios", `unknown scenario "fleets"`},
		{[]string{"-scenarios", "latency1,fleet", "-auth"}, "-auth", "in-process agents run without identities"},
	} {
		_, err := parseFlags(c.args, io.Discard)
		var fe *fielderr.Error
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%v: error %v, want a field error of ErrInvalidConfig", c.args, err)
			continue
		}
		if fe.Field != c.field || !strings.Contains(fe.Msg, c.msg) {
			t.Errorf("%v: field %q, message %q; want %q containing %q", c.args, fe.Field, fe.Msg, c.field, c.msg)
		}
	}
}

func TestNATSServerOptions(t *testing.T) {
	o, err := natsServerOptions([]string{"n2", "4222", "6222", "/tmp/s", "nats-route://127.0.0.1:6221,nats-route://127.0.0.1:6222"})
	if err != nil {
		t.Fatal(err)
	}
	if o.ServerName != "n2" || o.Port != 4222 || o.Cluster.Port != 6222 || o.StoreDir != "/tmp/s" || !o.JetStream ||
		len(o.Routes) != 2 || o.Routes[1].Host != "127.0.0.1:6222" || o.MaxConn != natsMaxConn || o.JetStreamLimits.DefaultMaxConsumers != -1 {
		t.Errorf("options %+v", o)
	}
	o, err = natsServerOptions([]string{"n1", "4222", "0", "/tmp/s", ""})
	if err != nil {
		t.Fatal(err)
	}
	if o.Cluster.Port != 0 || len(o.Routes) != 0 {
		t.Errorf("no cluster: cluster port %d, routes %v", o.Cluster.Port, o.Routes)
	}
	for _, args := range [][]string{
		{"n1", "4222", "0", "/tmp/s"},
		{"n1", "x", "0", "/tmp/s", ""},
		{"n1", "4222", "6222", "/tmp/s", "not a url"},
	} {
		if _, err := natsServerOptions(args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestTarget_StringFraction(t *testing.T) {
	if got := targetProcsRatio.String(); got != "≤ 1.2 x" {
		t.Errorf("ratio target %q", got)
	}
	if got := targetFleetP50.String(); got != "≤ 2,000 ms" {
		t.Errorf("p50 target %q", got)
	}
}
