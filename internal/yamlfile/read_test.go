package yamlfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/yamlfile"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("#", size)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("at the limit", func(t *testing.T) {
		p := write("max.yaml", yamlfile.MaxFileSize)
		data, err := yamlfile.ReadFile(p)
		if err != nil || len(data) != yamlfile.MaxFileSize {
			t.Errorf("ReadFile = %d bytes, %v", len(data), err)
		}
	})
	t.Run("over the limit", func(t *testing.T) {
		p := write("big.yaml", yamlfile.MaxFileSize+1)
		_, err := yamlfile.ReadFile(p)
		var ye *yamlfile.Error
		want := p + ": file is too big: 1048577 bytes, the limit is 1048576 bytes (1 MiB)"
		if !errors.As(err, &ye) || err.Error() != want {
			t.Errorf("ReadFile = %v, want %s", err, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := yamlfile.ReadFile(filepath.Join(dir, "nope.yaml"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile = %v, want ErrNotExist", err)
		}
	})
}
