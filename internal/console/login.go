package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/auth"
)

// Cookies of the console. The session cookie holds the viewer's token
// itself, checked against the registry on every request (a revoked token
// is refused at once); it is HttpOnly, SameSite=Strict and Secure over
// TLS, and the token never appears in a URL or a log.
const (
	SessionCookie = "herald_console"
	csrfCookie    = "herald_console_csrf"
	// SessionMaxAge is how long a login lasts.
	SessionMaxAge = 12 * time.Hour
	maxLoginBody  = 8 << 10
)

// viewer returns the identity of r's session cookie, if it may read.
func (c *Console) viewer(r *http.Request) (auth.Identity, int, string) {
	reg, err := c.cfg.Registry.Current()
	if err != nil {
		c.cfg.Log.Warn().Err(err).Msg("console: cannot read the identities registry")
	}
	if reg == nil {
		return auth.Identity{}, http.StatusServiceUnavailable, "the identities registry cannot be read"
	}
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return auth.Identity{}, http.StatusUnauthorized, "log in with a viewer token"
	}
	id, ok := reg.ByToken(ck.Value)
	if !ok {
		return auth.Identity{}, http.StatusUnauthorized, "the session's token is unknown or revoked: log in again"
	}
	if !id.MayRead() {
		return id, http.StatusForbidden, "identity " + id.Name + " (" + string(id.Role) + ") may not read the console (a viewer, dispatcher or admin may)"
	}
	return id, http.StatusOK, ""
}

// page serves h to a viewer; without a session it sends the browser to
// the login form, coming back here after.
func (c *Console) page(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.cfg.Registry == nil {
			h(w, r)
			return
		}
		id, code, msg := c.viewer(r)
		switch code {
		case http.StatusOK:
			h(w, r.WithContext(auth.NewContext(r.Context(), id)))
		case http.StatusUnauthorized:
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		default:
			c.render(w, r, code, "login", "Console", loginView{}, msg)
		}
	}
}

// live is page for a Server-Sent Events endpoint: a plain 401 or 403.
func (c *Console) live(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.cfg.Registry == nil {
			h(w, r)
			return
		}
		id, code, msg := c.viewer(r)
		if code != http.StatusOK {
			http.Error(w, msg, code)
			return
		}
		h(w, r.WithContext(auth.NewContext(r.Context(), id)))
	}
}

// loginView is the login form's data.
type loginView struct {
	CSRF string
	Next string
}

// safeNext keeps a return path inside the console.
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/ui/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") {
		return "/ui/"
	}
	return s
}

func (c *Console) serveLoginForm(w http.ResponseWriter, r *http.Request) {
	c.loginForm(w, r, http.StatusOK, "")
}

// loginForm renders the form with a fresh CSRF token, also set as a
// cookie that the POST must repeat (double submit).
func (c *Console) loginForm(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if c.cfg.Registry == nil {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: tok, Path: "/ui/login", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: 3600,
	})
	c.render(w, r, code, "login", "Log in", loginView{CSRF: tok, Next: safeNext(r.FormValue("next"))}, msg)
}

func (c *Console) serveLogin(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Registry == nil {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		c.loginForm(w, r, http.StatusBadRequest, "the login form could not be read")
		return
	}
	ck, err := r.Cookie(csrfCookie)
	form := r.PostFormValue("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 || !sameOrigin(r) {
		c.cfg.Log.Info().Str("remote", r.RemoteAddr).Msg("console: login refused: csrf check failed")
		c.loginForm(w, r, http.StatusForbidden, "the login form expired or came from another site: try again")
		return
	}
	reg, err := c.cfg.Registry.Current()
	if reg == nil {
		c.cfg.Log.Warn().Err(err).Msg("console: cannot read the identities registry")
		c.loginForm(w, r, http.StatusServiceUnavailable, "the identities registry cannot be read")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	id, ok := reg.ByToken(token)
	switch {
	case !ok:
		c.cfg.Log.Info().Str("remote", r.RemoteAddr).Msg("console: login refused: unknown or revoked token")
		c.loginForm(w, r, http.StatusUnauthorized, "unknown or revoked token")
		return
	case !id.MayRead():
		c.cfg.Log.Info().Str("remote", r.RemoteAddr).Str("identity", id.Name).Msg("console: login refused: no read right")
		c.loginForm(w, r, http.StatusForbidden, "identity "+id.Name+" ("+string(id.Role)+") may not read the console (a viewer, dispatcher or admin may)")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/ui/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(SessionMaxAge.Seconds()),
	})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Path: "/ui/login", MaxAge: -1})
	c.cfg.Log.Info().Str("remote", r.RemoteAddr).Str("identity", id.Name).Msg("console: login")
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// sameOrigin is false for a request whose Origin header names another
// site (browsers send it on every POST).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (c *Console) serveLogout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site logout refused", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Path: "/ui/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}
