package main

import (
	"context"
	"fmt"
)

type getCommand struct {
	env *env
	cf  clientFlags
}

// Run prints one event by id or name.
func (c *getCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("event get")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("event get: want exactly one event id, got %d arguments", len(pos))
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	e, err := cl.GetEvent(ctx, pos[0])
	if err != nil {
		return err
	}
	return printJSON(c.env.stdout, e)
}
