// Package pgtest gives tests their own PostgreSQL database on the server
// named by $AUDITTRAIL_TEST_POSTGRES (a postgres:// URL whose user may
// create databases). Without it, tests skip with a message, except under
// CI=true, where a missing database fails the run so that CI never passes
// by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/audittrail/audittrail/internal/testnote"
)

// EnvVar names the server URL.
const EnvVar = "AUDITTRAIL_TEST_POSTGRES"

// ServerURL returns the configured server URL, or skips (fails under CI).
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvVar)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI must run the PostgreSQL suites", EnvVar)
		}
		testnote.Skip(t, fmt.Sprintf("PostgreSQL suites: set %s=postgres://user@host:5432/postgres (a user that may create databases) to run them", EnvVar))
	}
	return u
}

// NewDatabase creates an empty database for the test, drops it at cleanup
// and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	server := ServerURL(t)
	b := make([]byte, 6)
	rand.Read(b)
	name := "audittrail_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, server); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(server)
	if err != nil || u.Scheme == "" {
		t.Fatalf("pgtest: %s must be a postgres:// URL", EnvVar)
	}
	u.Path = "/" + name
	return u.String()
}
