package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/tlog"
)

type verifyLogCommand struct {
	env        *env
	cf         clientFlags
	key, state string
}

// Run is what an external monitor runs from cron: it fetches the latest
// checkpoint, checks its signature and that it extends the checkpoint
// remembered in --state, then remembers the new one. A log that was rolled
// back or rewritten fails with both checkpoints as evidence.
func (c *verifyLogCommand) Run(ctx context.Context, args []string) error {
	flags := newFlagSet("verify log")
	flags.SetOutput(c.env.stderr)
	c.cf.register(flags)
	flags.StringVar(&c.key, "key", "", "the log's public key (required)")
	flags.StringVar(&c.state, "state", "", "file remembering the last verified checkpoint (required)")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if c.key == "" || c.state == "" || flags.NArg() > 0 {
		return fmt.Errorf("verify log: usage: verify log --key PUBKEY --state FILE")
	}
	v, err := note.NewVerifier(c.key)
	if err != nil {
		return fmt.Errorf("verify log: --key: %w", err)
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	latest, err := cl.GetCheckpoint(ctx, 0)
	if err != nil {
		return err
	}
	newer, err := tlog.ParseCheckpoint([]byte(latest.SignedNote), v)
	if err != nil {
		fmt.Fprintf(c.env.stderr, "FAILED: latest checkpoint: %v\n", err)
		return exitError{1}
	}
	old, err := os.ReadFile(c.state)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(c.env.stdout, "first checkpoint remembered: size %d\n", newer.Size)
	case err != nil:
		return fmt.Errorf("verify log: %w", err)
	default:
		older, err := tlog.ParseCheckpoint(old, v)
		if err != nil {
			return fmt.Errorf("verify log: remembered checkpoint in %s: %w", c.state, err)
		}
		var proof [][]byte
		if newer.Size > older.Size && older.Size > 0 {
			p, err := cl.GetConsistencyProof(ctx, int64(older.Size), int64(newer.Size))
			if err != nil {
				return err
			}
			proof = p.Hashes
		}
		if err := tlog.VerifyConsistency(older, newer, proof); err != nil {
			fmt.Fprintf(c.env.stderr, "FAILED: %v\nremembered:\n%s\nlatest:\n%s", err, old, latest.SignedNote)
			return exitError{1}
		}
		fmt.Fprintf(c.env.stdout, "consistent: size %d → %d\n", older.Size, newer.Size)
	}
	tmp := filepath.Join(filepath.Dir(c.state), "."+filepath.Base(c.state)+".tmp")
	if err := os.WriteFile(tmp, []byte(latest.SignedNote), 0o644); err != nil {
		return fmt.Errorf("verify log: %w", err)
	}
	return os.Rename(tmp, c.state)
}
