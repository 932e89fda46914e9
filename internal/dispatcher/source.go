package dispatcher

import (
	"github.com/heraldhq/herald/internal/source"
	"github.com/heraldhq/herald/internal/source/kv"
	"github.com/heraldhq/herald/internal/source/zk"
)

// Source, Publisher and PublishResult are defined by package source, so
// that sources in their own packages need not import the dispatcher.
type (
	Source        = source.Source
	Publisher     = source.Publisher
	PublishResult = source.PublishResult
)

// builtinSources builds the sources the config turns on: ZooKeeper when an
// ensemble is given, and the KV source always (it watches only what agents
// or kv.watch ask for).
func builtinSources(cfg Config) ([]Source, error) {
	var out []Source
	if cfg.ZK.Enabled() {
		z, err := zk.New(cfg.ZK)
		if err != nil {
			return nil, err
		}
		out = append(out, z)
	}
	k, err := kv.New(cfg.KV)
	if err != nil {
		return nil, err
	}
	return append(out, k), nil
}
