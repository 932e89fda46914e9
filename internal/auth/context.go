package auth

import "context"

type ctxKey struct{}

// NewContext returns ctx carrying id, the identity that authenticated the
// request being served (an HTTP bearer token's).
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity NewContext put in ctx; false when the
// request was not authenticated (the dispatcher runs without --auth).
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}
