package natsconn

import (
	"fmt"
	"os"

	"github.com/nats-io/jwt/v2"
)

// InboxPrefix is the inbox prefix of a client holding the credentials of
// identity name: replies to its requests (JetStream acks, pre verdicts)
// come on InboxPrefix(name)+".>", which only that identity may subscribe
// to, so no one else can read them.
func InboxPrefix(name string) string { return "_INBOX_" + name }

// CredsName returns the name in a NATS credentials file's user JWT (the
// identity herald auth issued it to).
func CredsName(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("nats-creds: %w", err)
	}
	tok, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return "", fmt.Errorf("nats-creds: %s: %w", path, err)
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return "", fmt.Errorf("nats-creds: %s: %w", path, err)
	}
	return uc.Name, nil
}
