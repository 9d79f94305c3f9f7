package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/audittrail/audittrail/internal/store/postgres"
)

// migrateCommand is `audittrail migrate --store postgres://…`: it applies
// the schema migrations explicitly (serve also applies them on start).
type migrateCommand struct {
	env *env
}

// Run applies the pending migrations and reports what it did.
func (c *migrateCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("migrate")
	fs.SetOutput(c.env.stderr)
	url := fs.String("store", "", "PostgreSQL URL (postgres://user:pass@host:5432/db)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !isPostgresURL(*url) {
		return errors.New("migrate: --store postgres://… is required (the embedded store needs no migration)")
	}
	log, err := newLogger(c.env.stderr, "info")
	if err != nil {
		return err
	}
	opts := postgres.DefaultOptions()
	opts.Origin, opts.Logger = "", log
	st, err := postgres.Open(ctx, *url, opts)
	if err != nil {
		return err
	}
	v, err := st.SchemaVersion(ctx)
	st.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.stdout, "schema version %d\n", v)
	return nil
}
