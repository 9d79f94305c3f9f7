package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/client"
)

type tailCommand struct {
	env              *env
	search           searchCommand
	interval, window time.Duration
}

// Run prints matching events as they arrive, oldest first, until
// interrupted. It polls SearchEvents over a sliding window of event_time
// (--lookback) so that events whose event_time lags a little behind are not
// missed, and prints each event once. Every poll is a search, recorded by the
// server; tail hides those records of its own polls (recognised by a
// per-process User-Agent) but shows everyone else's.
func (c *tailCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("event tail")
	fs.SetOutput(c.env.stderr)
	c.search.env = c.env
	c.search.cf.register(fs)
	c.search.registerFilterFlags(fs)
	fs.DurationVar(&c.interval, "interval", time.Second, "time between polls")
	fs.DurationVar(&c.window, "lookback", time.Minute, "how far behind now events are looked for (also what is shown at start)")
	fs.StringVar(&c.search.output, "o", "table", "output: table or jsonl")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || (c.search.output != "table" && c.search.output != "jsonl") || c.interval <= 0 || c.window <= 0 {
		return fmt.Errorf("event tail: takes no arguments; -o table|jsonl; positive --interval and --lookback")
	}
	cl, err := c.search.cf.client(c.env)
	if err != nil {
		return err
	}
	ua := "audittrail-tail/" + uuid.NewString()
	cl = cl.WithUserAgent(ua)
	seen := map[string]time.Time{} // name → event_time, pruned past the window
	for {
		now := time.Now()
		filter, err := c.search.filter(now)
		if err != nil {
			return fmt.Errorf("event tail: %w", err)
		}
		filter.StartEventTime = timestamppb.New(now.Add(-c.window))
		evs, err := pollAll(ctx, cl, filter)
		if ctx.Err() != nil {
			return nil // interrupted: a normal way to stop tailing
		}
		if err != nil {
			return err
		}
		slices.Reverse(evs) // oldest first
		table := newTableWriter(c.env.stdout)
		printed := 0
		for _, e := range evs {
			if _, dup := seen[e.Name]; dup || (e.Action == "actions/audittrail/events/SEARCH" && e.UserAgent == ua) {
				continue
			}
			seen[e.Name] = e.EventTime.AsTime()
			printed++
			if c.search.output == "jsonl" {
				if err := printJSONLine(c.env.stdout, e); err != nil {
					return err
				}
			} else {
				table.write(e)
			}
		}
		if printed > 0 && c.search.output == "table" {
			table.flush()
		}
		for name, t := range seen {
			if t.Before(now.Add(-c.window)) {
				delete(seen, name)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.interval):
		}
	}
}

func pollAll(ctx context.Context, cl *client.Client, f *pb.Filter) ([]*pb.Event, error) {
	req := &pb.SearchEventsRequest{Filter: f, PageSize: 1000}
	var out []*pb.Event
	for {
		resp, err := cl.SearchEvents(ctx, req)
		if err != nil {
			return nil, err
		}
		out = append(out, resp.Events...)
		if resp.NextPageToken == "" {
			return out, nil
		}
		req.PageToken = resp.NextPageToken
	}
}
