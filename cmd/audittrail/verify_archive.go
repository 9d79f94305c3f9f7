package main

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/tlog"
)

type verifyArchiveCommand struct {
	env *env
	key string
}

// Run verifies an archive fully offline and prints "N/N checkpoints, M/M
// events valid", or each bad event and checkpoint and why (exit status 1).
func (c *verifyArchiveCommand) Run(_ context.Context, args []string) error {
	fs := newFlagSet("verify archive")
	fs.SetOutput(c.env.stderr)
	fs.StringVar(&c.key, "key", "", "the log's public key (required)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || c.key == "" {
		return fmt.Errorf("verify archive: usage: verify archive DIR --key PUBKEY")
	}
	v, err := note.NewVerifier(c.key)
	if err != nil {
		return fmt.Errorf("verify archive: --key: %w", err)
	}
	r, err := tlog.VerifyArchive(pos[0], v)
	if err != nil {
		return fmt.Errorf("verify archive: %w", err)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(c.env.stdout, "BAD", p)
	}
	fmt.Fprintln(c.env.stdout, r.Summary())
	if !r.OK() {
		return exitError{1}
	}
	return nil
}
