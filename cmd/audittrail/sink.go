package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// sinkCommand is `audittrail sink list|status`: the export sinks of a
// running server (needs the admin token).
type sinkCommand struct {
	env *env
	cf  clientFlags
}

func (c *sinkCommand) fetch(ctx context.Context, name string, args []string) ([]*pb.Sink, error) {
	fs := newFlagSet("sink " + name)
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("sink %s: unexpected arguments %q", name, fs.Args())
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return nil, err
	}
	resp, err := cl.ListSinks(ctx)
	if err != nil {
		return nil, err
	}
	return resp.GetSinks(), nil
}

// List prints each configured sink's name and type.
func (c *sinkCommand) List(ctx context.Context, args []string) error {
	sinks, err := c.fetch(ctx, "list", args)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE")
	for _, s := range sinks {
		fmt.Fprintf(tw, "%s\t%s\n", s.GetName(), s.GetType())
	}
	return tw.Flush()
}

// Status prints each sink's cursor, lag and latest delivery or failure.
func (c *sinkCommand) Status(ctx context.Context, args []string) error {
	sinks, err := c.fetch(ctx, "status", args)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tRUNNING\tCURSOR\tLOG SIZE\tLAG EVENTS\tLAG\tDELIVERED\tLAST DELIVERY\tLAST ERROR")
	for _, s := range sinks {
		last := "never"
		if t := s.GetLastDeliveryTime(); t != nil {
			last = t.AsTime().UTC().Format(time.RFC3339)
		}
		running := "no (another replica)"
		if s.GetRunning() {
			running = "here"
		}
		errText := s.GetLastError()
		if errText == "" {
			errText = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\n", s.GetName(), s.GetType(), running, s.GetNextSeq(), s.GetLogSize(),
			s.GetLagEvents(), (time.Duration(s.GetLagSeconds() * float64(time.Second))).Round(time.Millisecond), s.GetDeliveredEvents(), last, errText)
	}
	return tw.Flush()
}
