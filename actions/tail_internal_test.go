package actions

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestTailBuffer_Write(t *testing.T) {
	const max = 64
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 1))
		tb := NewTailBuffer(max)
		var all []byte
		for range 200 {
			p := make([]byte, r.IntN(3*max))
			for i := range p {
				p[i] = byte(r.Uint32())
			}
			if n, err := tb.Write(p); n != len(p) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			all = append(all, p...)
			want := all
			if len(want) > max {
				want = want[len(want)-max:]
			}
			if got := tb.String(); got != string(want) {
				t.Fatalf("seed %d: tail %x, want %x", seed, got, want)
			}
			if cap(tb.buf) > 2*max {
				t.Fatalf("buffer grew to %d bytes, bound is %d", cap(tb.buf), 2*max)
			}
		}
	}
	tb := NewTailBuffer(4)
	big := bytes.Repeat([]byte("x"), 1<<20)
	big = append(big, "wxyz"...)
	tb.Write(big)
	if tb.String() != "wxyz" || cap(tb.buf) > 8 {
		t.Fatalf("after a 1 MiB write: tail %q, buffer %d bytes", tb.String(), cap(tb.buf))
	}
}
