package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/store"
	"github.com/audittrail/audittrail/internal/store/pebble"
	"github.com/audittrail/audittrail/internal/store/postgres"
)

// isPostgresURL reports whether --store selects PostgreSQL.
func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// openStore opens the store --store selects and returns it with the log's
// signing key and the page-token key. The embedded store keeps both keys in
// --data. On PostgreSQL, replicas must share them: they are kept in the
// database (unless --signing-key names a file, which production should
// prefer: then the private key never sits in the database).
func (c *serveCommand) openStore(ctx context.Context, log *slog.Logger, reg prometheus.Registerer) (store.Store, string, []byte, error) {
	fileKey, haveFile, err := c.signingKeyFile()
	if err != nil {
		return nil, "", nil, err
	}
	newPageKey := func() ([]byte, error) { return randomBytes(32) }
	switch {
	case c.storeURL == "":
		skey := fileKey
		if !haveFile {
			b, err := loadOrCreateSecret(filepath.Join(c.data, signingKeyFile), c.newSigningKey)
			if err != nil {
				return nil, "", nil, err
			}
			skey = strings.TrimSpace(string(b))
		}
		signer, err := note.NewSigner(skey)
		if err != nil {
			return nil, "", nil, fmt.Errorf("serve: signing key: %w", err)
		}
		opts := pebble.DefaultOptions()
		opts.Origin, opts.Logger, opts.Registerer = signer.Name(), log, reg
		opts.MinFreeBytes = int64(c.limits.diskReserve)
		opts.Tracer = c.tracer
		st, err := pebble.Open(filepath.Join(c.data, eventsDir), opts)
		if err != nil {
			return nil, "", nil, err
		}
		key, err := loadOrCreateSecret(filepath.Join(c.data, pageTokenKeyFile), newPageKey)
		if err != nil {
			st.Close()
			return nil, "", nil, err
		}
		return st, skey, key, nil
	case isPostgresURL(c.storeURL):
		opts := postgres.DefaultOptions()
		opts.Origin, opts.Logger = "", log
		st, err := postgres.Open(ctx, c.storeURL, opts)
		if err != nil {
			return nil, "", nil, err
		}
		fail := func(err error) (store.Store, string, []byte, error) {
			st.Close()
			return nil, "", nil, err
		}
		skey := fileKey
		if !haveFile {
			b, err := st.Secret(ctx, signingKeyFile, c.newSigningKey)
			if err != nil {
				return fail(err)
			}
			skey = strings.TrimSpace(string(b))
		}
		signer, err := note.NewSigner(skey)
		if err != nil {
			return fail(fmt.Errorf("serve: signing key: %w", err))
		}
		if err := st.CheckOrigin(ctx, signer.Name()); err != nil {
			return fail(err)
		}
		key, err := st.Secret(ctx, pageTokenKeyFile, newPageKey)
		if err != nil {
			return fail(err)
		}
		log.Info("store: PostgreSQL", "origin", signer.Name())
		return st, skey, key, nil
	}
	return nil, "", nil, fmt.Errorf("serve: --store %q: want a postgres:// URL, or nothing for the embedded store in --data", c.storeURL)
}
