// Package httpauth authenticates the dispatcher's HTTP API: a bearer
// token (Authorization: Bearer TOKEN) matched against the identities
// registry of an auth directory, re-read when the file changes so that a
// revoked token is refused without a restart. It answers 401 with
// WWW-Authenticate when the token is missing, unknown or revoked, and
// hands the identity on in the request's context (auth.NewContext); what
// the identity may do there is for the endpoint to decide. It knows
// nothing of events, calls or metrics, and never logs or echoes a token.
package httpauth
