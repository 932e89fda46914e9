package auth

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// ClaimsUpdateSubject is where a system account user sends an updated
// account JWT to servers with a full (nats-based) resolver, as nsc push
// does.
const ClaimsUpdateSubject = "$SYS.REQ.CLAIMS.UPDATE"

// Push sends accountJWT to ClaimsUpdateSubject on nc (connected with a
// SYS user's credentials, DIR/sys.creds) and returns the server's answer
// or its refusal.
func Push(nc *nats.Conn, accountJWT string, timeout time.Duration) (string, error) {
	m, err := nc.Request(ClaimsUpdateSubject, []byte(accountJWT), timeout)
	if err != nil {
		return "", fmt.Errorf("push account jwt: %w", err)
	}
	var resp struct {
		Data *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"data"`
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return "", fmt.Errorf("push account jwt: answer %q: %w", m.Data, err)
	}
	if resp.Error != nil {
		return "", fmt.Errorf("push account jwt: refused (%d): %s", resp.Error.Code, resp.Error.Description)
	}
	if resp.Data == nil {
		return "", fmt.Errorf("push account jwt: unexpected answer %q", m.Data)
	}
	return resp.Data.Message, nil
}
