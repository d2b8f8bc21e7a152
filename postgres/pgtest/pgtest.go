// Package pgtest gives tests a PostgreSQL database of their own.
//
// The server is the one at $BATON_TEST_DATABASE_URL, or
// postgres://postgres@127.0.0.1:5432/test. A test that cannot reach it
// fails rather than skips: CI has PostgreSQL, and a suite that silently
// skips its database tests proves nothing.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server used when BATON_TEST_DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test"

// AdminURL returns the URL of the test server's administrative database,
// the one new databases are created from.
func AdminURL() string {
	if u := os.Getenv("BATON_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// NewDatabase creates an empty database named baton_test_<random hex> and
// returns its URL; the test's cleanup drops it, closing any connections
// still open to it.
func NewDatabase(tb testing.TB) (url string) {
	tb.Helper()
	admin := AdminURL()
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "baton_test_" + hex.EncodeToString(b[:])

	exec(tb, admin, "CREATE DATABASE "+name)
	tb.Cleanup(func() {
		exec(tb, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := WithDatabase(admin, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return u
}

// WithDatabase returns connURL with its database replaced by name. It
// accepts both postgres:// URLs and key=value connection strings.
func WithDatabase(connURL, name string) (string, error) {
	if strings.HasPrefix(connURL, "postgres://") || strings.HasPrefix(connURL, "postgresql://") {
		u, err := url.Parse(connURL)
		if err != nil {
			return "", err
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// In key=value strings a later key wins.
	return connURL + " dbname=" + name, nil
}

// exec runs one statement on a short-lived connection to connURL.
func exec(tb testing.TB, connURL, sql string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		tb.Fatalf("pgtest: PostgreSQL is required for this test (set BATON_TEST_DATABASE_URL): %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("pgtest: %s: %v", sql, err)
	}
}
