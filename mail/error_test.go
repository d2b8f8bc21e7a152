package mail

import (
	"context"
	"net"
	"testing"
)

// TestClassifyUnreachable: connecting fails for want of a name or a route
// (which a test cannot arrange portably over the network).
func TestClassifyUnreachable(t *testing.T) {
	for _, err := range []error{
		&net.DNSError{Err: "no such host", Name: "relay.invalid", IsNotFound: true},
		&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "i/o timeout", IsTimeout: true}},
	} {
		e := classify(context.Background(), "relay.invalid:587", dialError(false, err))
		if e.Kind != Unreachable || e.Permanent() {
			t.Errorf("%v: got %q permanent %v, want %q and not permanent", err, e.Kind, e.Permanent(), Unreachable)
		}
		if got, want := e.Error()[:len("relay unreachable (relay.invalid:587): ")], "relay unreachable (relay.invalid:587): "; got != want {
			t.Errorf("got %q, want %q…", e.Error(), want)
		}
	}
}
