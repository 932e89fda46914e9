package actions

import "sync"

// TailBuffer is an io.Writer, safe for concurrent use, that keeps only
// the last max bytes written to it: the tails of output a Result carries.
// Memory stays below 2*max however much is written: a write appends, and
// once the buffer holds more than 2*max bytes the last max are moved to the
// front.
type TailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// NewTailBuffer keeps the last max bytes written.
func NewTailBuffer(max int) *TailBuffer {
	return &TailBuffer{max: max, buf: make([]byte, 0, 2*max)}
}

// Write keeps the tail of p; it never fails.
func (t *TailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if len(t.buf)+len(p) > cap(t.buf) {
		keep := t.max - len(p)
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-keep:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the last max bytes written.
func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	return string(b)
}
