package yamlfile

import (
	"fmt"
	"io"
	"os"
)

// MaxFileSize is the largest file ReadFile reads: 1 MiB. A watch, hook,
// job or config file is a few kilobytes; a bigger one is a mistake (a log
// or a binary in the watches directory), refused before it is parsed.
const MaxFileSize = 1 << 20

// ReadFile reads the file at path, refusing one over MaxFileSize with an
// Error naming the file, its size and the limit. Every YAML file Herald
// reads goes through it.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read one byte past the limit, so that a file that grows (or a
	// special file with no size) is caught too.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		size := "more than 1048576 bytes"
		if fi, err := f.Stat(); err == nil && fi.Size() > MaxFileSize {
			size = fmt.Sprintf("%d bytes", fi.Size())
		}
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is too big: %s, the limit is %d bytes (1 MiB)", size, MaxFileSize)}
	}
	return data, nil
}
