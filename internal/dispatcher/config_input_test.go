package dispatcher_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/yamlfile"
)

func TestConfig_LoadConfigFile_DuplicateKey(t *testing.T) {
	p := writeFile(t, "dup.yaml", "data: /x\nstreams:\n  replicas: 1\n  replicas: 3\n")
	c := dispatcher.DefaultConfig()
	err := c.LoadConfigFile(p)
	want := p + `:4: streams: duplicate key "replicas" (first at line 3)`
	if !errors.Is(err, dispatcher.ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
		t.Errorf("LoadConfigFile = %v, want ErrInvalidConfig with %q", err, want)
	}
}

func TestConfig_LoadConfigFile_TooBig(t *testing.T) {
	p := writeFile(t, "big.yaml", "data: /x\n"+strings.Repeat("# padding\n", yamlfile.MaxFileSize/10))
	c := dispatcher.DefaultConfig()
	err := c.LoadConfigFile(p)
	if !errors.Is(err, dispatcher.ErrInvalidConfig) || !strings.Contains(err.Error(), p+": file is too big: ") {
		t.Errorf("LoadConfigFile = %v, want ErrInvalidConfig naming %s and its size", err, p)
	}
}
