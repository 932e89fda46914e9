package auth

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/jwt/v2"
)

// DefaultResolverDir is where server-config's full resolver keeps the
// account JWTs unless told otherwise.
const DefaultResolverDir = "/var/lib/nats/herald-jwt"

// ServerConfig returns the nats-server configuration block that makes a
// server trust d's operator: the operator JWT, the system account, a full
// nats-based resolver storing account JWTs in resolverDir (updates pushed
// to $SYS.REQ.CLAIMS.UPDATE are taken live and spread through the
// cluster) and the SYS and HERALD accounts preloaded.
func (d Dir) ServerConfig(resolverDir string) (string, error) {
	ojwt, err := d.ReadJWT(OperatorJWTFile)
	if err != nil {
		return "", err
	}
	sjwt, err := d.ReadJWT(SysJWTFile)
	if err != nil {
		return "", err
	}
	ajwt, err := d.ReadJWT(AccountJWTFile)
	if err != nil {
		return "", err
	}
	spub, err := subjectOf(sjwt)
	if err != nil {
		return "", fmt.Errorf("%s: %w", d.path(SysJWTFile), err)
	}
	apub, err := subjectOf(ajwt)
	if err != nil {
		return "", fmt.Errorf("%s: %w", d.path(AccountJWTFile), err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Herald's trust root (herald auth server-config --dir %s).\n", string(d))
	fmt.Fprintf(&b, "# Accounts: %s (system) %s, %s (JetStream) %s.\n", SysAccount, spub, Account, apub)
	fmt.Fprintf(&b, "operator: %s\n", ojwt)
	fmt.Fprintf(&b, "system_account: %s\n", spub)
	fmt.Fprintf(&b, "# A CONNECT carries the user's JWT with its permissions.\nmax_control_line: %d\n", MaxControlLine)
	fmt.Fprintf(&b, "resolver: {\n  type: full\n  dir: %s\n  allow_delete: false\n  interval: \"2m\"\n}\n", strconv.Quote(resolverDir))
	fmt.Fprintf(&b, "resolver_preload: {\n  %s: %s\n  %s: %s\n}\n", spub, sjwt, apub, ajwt)
	return b.String(), nil
}

// subjectOf returns the public key an account JWT is about.
func subjectOf(tok string) (string, error) {
	ac, err := jwt.DecodeAccountClaims(tok)
	if err != nil {
		return "", err
	}
	return ac.Subject, nil
}
