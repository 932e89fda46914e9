package fielderr_test

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/internal/fielderr"
)

var errSentinel = errors.New("invalid thing config")

func TestError(t *testing.T) {
	err := error(fielderr.New(errSentinel, "timeout", "must not be negative, got %v", -1))
	if got, want := err.Error(), "invalid thing config: timeout: must not be negative, got -1"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, errSentinel) {
		t.Errorf("errors.Is(%v, sentinel) = false", err)
	}
	var fe *fielderr.Error
	if !errors.As(err, &fe) || fe.Field != "timeout" || fe.Msg != "must not be negative, got -1" {
		t.Errorf("errors.As gave %+v", fe)
	}
}

func TestList(t *testing.T) {
	l := fielderr.List{Sentinel: errSentinel}
	if err := l.Err(); err != nil {
		t.Fatalf("empty list: Err() = %v, want nil", err)
	}
	l.Add("a", "is empty")
	l.Add("b", "%q is bad", "x")
	err := l.Err()
	if got, want := err.Error(), "invalid thing config: a: is empty\ninvalid thing config: b: \"x\" is bad"; got != want {
		t.Errorf("Err() = %q, want %q", got, want)
	}
	if !errors.Is(err, errSentinel) {
		t.Errorf("errors.Is(%v, sentinel) = false", err)
	}
}
