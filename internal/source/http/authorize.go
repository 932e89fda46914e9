package httpsource

// What an authenticated identity may post: its granted types and keys,
// and Herald's reserved types and sources only with the right to them.

import (
	"net/http"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/auth"
)

// defaultSourceFor is the source of an event posted without one:
// herald://dispatcher/<hostname>, followed by /http/<identity> when the
// request was authenticated.
func (h *Source) defaultSourceFor(r *http.Request) string {
	if id, ok := auth.FromContext(r.Context()); ok {
		return h.defaultSource + "/http/" + id.Name
	}
	return h.defaultSource
}

// authorize checks e against id's rights: 403 naming the field at fault.
func (h *Source) authorize(id auth.Identity, e events.Event) *requestError {
	forbid := func(field, format string, a ...any) *requestError {
		rerr := badField(field, format, a...)
		rerr.status = http.StatusForbidden
		return rerr
	}
	if !id.MayReserved() {
		if auth.IsReservedType(e.Type) {
			return forbid("type", "%q is reserved for Herald's own sources and dispatchers (zk.*, kv.*, call.*, op.*); identity %s may not publish it", e.Type, id.Name)
		}
		if auth.IsReservedSource(e.Source) && e.Source != h.defaultSource+"/http/"+id.Name {
			return forbid("source", "%q claims one of Herald's own producers (zk:, kv:, herald:); identity %s may not use it", e.Source, id.Name)
		}
	}
	if !id.MayPublish(e.Type, e.Key) {
		if len(id.Keys) > 0 && matchesType(id, e.Type) {
			return forbid("key", "%q is not among the keys granted to identity %s", e.Key, id.Name)
		}
		return forbid("type", "%q is not among the types granted to identity %s (%s)", e.Type, id.Name, id.Role)
	}
	return nil
}

// matchesType reports whether id may publish typ under some key: its key
// globs are what refused.
func matchesType(id auth.Identity, typ string) bool {
	everyKey := id
	everyKey.Keys = nil
	return everyKey.MayPublish(typ, "")
}
