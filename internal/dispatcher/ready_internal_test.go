package dispatcher

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestJetStreamNotReady: the errors a cluster answers while it starts are
// retried at start; a real refusal is not. 10039 is what a node answered
// in TestDeployCluster_Up before it had the account's JetStream.
func TestJetStreamNotReady(t *testing.T) {
	forAccount := &jetstream.APIError{Code: 503, ErrorCode: jetstream.JSErrCodeJetStreamNotEnabledForAccount, Description: "JetStream not enabled for account"}
	for err, want := range map[error]bool{
		fmt.Errorf("ensure stream HERALD_EVENTS: %w", forAccount): true,
		fmt.Errorf("x: %w", jetstream.ErrJetStreamNotEnabled):     true,
		nats.ErrNoResponders: true,
		nats.ErrTimeout:      true,
		&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamNameInUse}: false,
		errors.New("permissions violation"):                                           false,
	} {
		if got := jetStreamNotReady(err); got != want {
			t.Errorf("jetStreamNotReady(%v) = %v, want %v", err, got, want)
		}
	}
}
