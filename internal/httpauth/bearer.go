package httpauth

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/rs/zerolog"
)

// Guard authenticates requests with a bearer token from Registry.
type Guard struct {
	Registry Registry
	Log      zerolog.Logger
}

// errorResponse is the body of a 401, 403 or 503 from the guard.
type errorResponse struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// Require serves next only for a request with the bearer token of an
// active identity, which it puts in the request's context; 401 otherwise.
func (g Guard) Require(next http.Handler) http.Handler {
	return g.RequireRight(next, "", nil)
}

// RequireRight is Require for an endpoint that also needs a right: an
// identity for which may is false gets 403 naming what (e.g. "read").
func (g Guard) RequireRight(next http.Handler, what string, may func(auth.Identity) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := g.authenticate(w, r)
		if !ok {
			return
		}
		if may != nil && !may(id) {
			writeJSON(w, http.StatusForbidden, errorResponse{
				Error: "identity " + id.Name + " (" + string(id.Role) + ") may not " + what,
				Field: "authorization",
			})
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), id)))
	})
}

func (g Guard) authenticate(w http.ResponseWriter, r *http.Request) (auth.Identity, bool) {
	reg, err := g.Registry.Current()
	if err != nil {
		g.Log.Warn().Err(err).Msg("http auth: cannot read the identities registry")
	}
	if reg == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: "authorization: the identities registry cannot be read"})
		return auth.Identity{}, false
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		unauthorized(w, "", "authorization: a bearer token is required (Authorization: Bearer TOKEN)")
		return auth.Identity{}, false
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		unauthorized(w, "invalid_request", "authorization: want the Bearer scheme (Authorization: Bearer TOKEN)")
		return auth.Identity{}, false
	}
	id, ok := reg.ByToken(token)
	if !ok {
		g.Log.Info().Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Msg("http auth: unknown or revoked token refused")
		unauthorized(w, "invalid_token", "authorization: unknown or revoked token")
		return auth.Identity{}, false
	}
	return id, true
}

func unauthorized(w http.ResponseWriter, code, msg string) {
	v := `Bearer realm="herald"`
	if code != "" {
		v += `, error="` + code + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	writeJSON(w, http.StatusUnauthorized, errorResponse{Error: msg, Field: "authorization"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
