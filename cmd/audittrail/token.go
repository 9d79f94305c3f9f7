package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// tokenCommand is `audittrail token create|list|revoke`: administration of
// the server's own service tokens (needs the admin token).
type tokenCommand struct {
	env *env
	cf  clientFlags
}

// parseTTL accepts Go durations and a day suffix (`90d`); empty or 0 means
// no expiry.
func parseTTL(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	d, err := parseDays(s)
	if err != nil {
		return 0, fmt.Errorf("--expires: %w", err)
	}
	return d, nil
}

// parseDays accepts a positive number of days (`90d`) or a positive Go
// duration (`12h`).
func parseDays(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("want a positive number of days like 90d, or a duration like 12h, got %q", s)
}

// Create prints the token's details and, alone on its last line, the
// secret, which the server never shows again.
func (c *tokenCommand) Create(ctx context.Context, args []string) error {
	fs := newFlagSet("token create")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	principal := fs.String("principal", "", "services/NAME the token authenticates as (required)")
	expires := fs.String("expires", "", "lifetime, e.g. 90d or 12h (default: never expires)")
	login := fs.String("login-name", "", "login name shown as login_principal on this service's events")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *principal == "" {
		return errors.New("token create: --principal services/NAME is required")
	}
	ttl, err := parseTTL(*expires)
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	resp, err := cl.CreateToken(ctx, &pb.CreateTokenRequest{Principal: *principal, TtlSeconds: int64(ttl / time.Second), LoginName: *login})
	if err != nil {
		return err
	}
	t := resp.GetToken()
	fmt.Fprintf(c.env.stderr, "token %s for %s, expires %s; the secret below is shown only once:\n", t.GetId(), t.GetPrincipal(), expiry(t))
	fmt.Fprintln(c.env.stdout, resp.GetSecret())
	return nil
}

func expiry(t *pb.Token) string {
	if t.GetExpireTime() == nil {
		return "never"
	}
	return t.GetExpireTime().AsTime().UTC().Format(time.RFC3339)
}

// List prints every token, never a secret.
func (c *tokenCommand) List(ctx context.Context, args []string) error {
	fs := newFlagSet("token list")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	resp, err := cl.ListTokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPRINCIPAL\tLOGIN NAME\tCREATED\tEXPIRES\tSTATE")
	now := time.Now()
	for _, t := range resp.GetTokens() {
		state := "active"
		switch {
		case t.GetRevokeTime() != nil:
			state = "revoked " + t.GetRevokeTime().AsTime().UTC().Format(time.RFC3339)
		case t.GetExpireTime() != nil && !now.Before(t.GetExpireTime().AsTime()):
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.GetId(), t.GetPrincipal(), t.GetLoginName(),
			t.GetCreateTime().AsTime().UTC().Format(time.RFC3339), expiry(t), state)
	}
	return tw.Flush()
}

// Revoke revokes by --id or every token of --principal.
func (c *tokenCommand) Revoke(ctx context.Context, args []string) error {
	fs := newFlagSet("token revoke")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	principal := fs.String("principal", "", "revoke every token of this principal")
	id := fs.String("id", "", "revoke the token with this id")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*principal == "") == (*id == "") {
		return errors.New("token revoke: give exactly one of --principal and --id")
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	resp, err := cl.RevokeTokens(ctx, &pb.RevokeTokensRequest{Id: *id, Principal: *principal})
	if err != nil {
		return err
	}
	for _, t := range resp.GetTokens() {
		fmt.Fprintf(c.env.stdout, "revoked %s (%s)\n", t.GetId(), t.GetPrincipal())
	}
	if len(resp.GetTokens()) == 0 {
		fmt.Fprintln(c.env.stdout, "no active token matched")
	}
	return nil
}
