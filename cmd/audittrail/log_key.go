package main

import (
	"context"
	"fmt"
)

type logKeyCommand struct {
	env *env
	cf  clientFlags
}

// Run prints the log's origin and, alone on the last line, its public key
// (a signed-note verifier key) for `verify … --key`.
func (c *logKeyCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("log key")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	cp, err := cl.GetCheckpoint(ctx, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.stdout, "origin: %s\n%s\n", cp.Origin, cp.VerifierKey)
	return nil
}
