package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/storetest"
)

// TestStore runs the conformance suite. Every subtest gets a fresh,
// migrated, empty store: a schema of its own in one database of the run
// (CREATE DATABASE copies a template and costs several times what a schema
// does, and the suite opens ~50 stores).
func TestStore(t *testing.T) {
	storetest.Run(t, schemaStores(t))
}

// schemaStores returns the open function of the conformance suites.
func schemaStores(t *testing.T) func(t *testing.T) baton.Store {
	url := pgtest.NewDatabase(t)
	admin := adminConn(t, url)
	var mu sync.Mutex
	n := 0
	return func(t *testing.T) baton.Store {
		mu.Lock()
		defer mu.Unlock()
		n++
		schema := fmt.Sprintf("store_%d", n)
		if _, err := admin.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
			t.Fatalf("create schema: %v", err)
		}
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
				t.Errorf("drop schema: %v", err)
			}
		})
		// Unknown connection parameters are sent to the server as settings.
		return mustOpen(t, withParam(url, "search_path", schema))
	}
}

// withParam adds a parameter to a postgres:// URL or key=value string.
func withParam(url, key, value string) string {
	switch {
	case !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://"):
		return url + " " + key + "=" + value
	case strings.Contains(url, "?"):
		return url + "&" + key + "=" + value
	}
	return url + "?" + key + "=" + value
}
