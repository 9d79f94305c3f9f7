package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

type healthCommand struct {
	env *env
	cf  clientFlags
}

// Run asks the server's /readyz (no token) and exits 0 when it is ready,
// 1 with the cause when not: for container HEALTHCHECKs and exec probes,
// where no curl is at hand.
func (c *healthCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("health")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("health: unexpected arguments %q", fs.Args())
	}
	hc, err := c.cf.httpClient()
	if err != nil {
		return err
	}
	if hc == nil {
		hc = &http.Client{}
	}
	hc.Timeout = *timeout
	resp, err := hc.Get(strings.TrimRight(c.cf.serverURL(c.env), "/") + "/readyz")
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(c.env.stderr, "not ready: HTTP %d: %s", resp.StatusCode, body)
		return exitError{1}
	}
	fmt.Fprintf(c.env.stdout, "ready\n")
	return nil
}
