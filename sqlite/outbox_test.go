package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/batonauth/baton/storetest"
)

// TestOutboxClaimTwoProcesses: two stores open on one file, each with its
// own writer, stand for two processes; their claims are serialised by
// BEGIN IMMEDIATE, not by one writer goroutine, and still never hand out a
// message twice.
func TestOutboxClaimTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "baton.db")
	storetest.ClaimOutboxConcurrently(t, mustOpenPath(t, path), mustOpenPath(t, path))
}
