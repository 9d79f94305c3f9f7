package main

import (
	"context"
	"fmt"
)

type logCheckpointCommand struct {
	env  *env
	cf   clientFlags
	size int64
}

// Run prints a signed checkpoint note exactly as signed.
func (c *logCheckpointCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("log checkpoint")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	fs.Int64Var(&c.size, "size", 0, "tree size of a kept checkpoint (default: the latest)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	cp, err := cl.GetCheckpoint(ctx, c.size)
	if err != nil {
		return err
	}
	fmt.Fprint(c.env.stdout, cp.SignedNote)
	return nil
}
