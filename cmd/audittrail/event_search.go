package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

type searchCommand struct {
	env *env
	cf  clientFlags

	since                                  string
	start, until                           string
	exact, regex                           [6]optionalFlag
	statusRegex                            optionalFlag
	readOnly, output, pageTok              string
	metadata, metadataRegex, types, exTyps multiFlag
	pageSize                               int
	all                                    bool
}

// The string fields, in the order of the filter's exact/regex pairs.
var searchFields = [6]struct{ flag, help string }{
	{"source", "event_source"}, {"action", "action"}, {"principal", "principal"},
	{"resource", "resource"}, {"workspace", "workspace"}, {"ip", "source_ip_address"},
}

// Run searches events and prints them as a table, JSON or JSON lines.
func (c *searchCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("event search")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	fs.StringVar(&c.since, "since", "", "search the last DURATION (e.g. 15m, 24h, 7d)")
	fs.StringVar(&c.start, "start", "", "start_event_time, RFC 3339 (inclusive)")
	fs.StringVar(&c.until, "until", "", "end_event_time, RFC 3339 (exclusive)")
	c.registerFilterFlags(fs)
	fs.IntVar(&c.pageSize, "page-size", 0, "events per page (0: server default of 50)")
	fs.StringVar(&c.pageTok, "page-token", "", "continue from this next_page_token")
	fs.BoolVar(&c.all, "all", false, "follow next_page_token to the end")
	fs.StringVar(&c.output, "o", "table", "output: table, json or jsonl")
	fs.StringVar(&c.output, "output", "table", "same as -o")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("event search: unexpected arguments %q", fs.Args())
	}
	if c.output != "table" && c.output != "json" && c.output != "jsonl" {
		return fmt.Errorf("event search: -o %q: must be table, json or jsonl", c.output)
	}
	return c.search(ctx)
}

// registerFilterFlags adds one flag per filter field (shared with tail).
func (c *searchCommand) registerFilterFlags(fs *flag.FlagSet) {
	for i, f := range searchFields {
		fs.Var(&c.exact[i], f.flag, f.help+" equals (an empty value selects events where it is empty)")
		fs.Var(&c.regex[i], f.flag+"-regex", f.help+" matches this RE2 pattern")
	}
	fs.Var(&c.statusRegex, "status-regex", "decimal status code matches this RE2 pattern")
	fs.StringVar(&c.readOnly, "read-only", "", "true or false")
	fs.Var(&c.metadata, "metadata", "metadata key=value that must be present (repeatable)")
	fs.Var(&c.metadataRegex, "metadata-regex", "metadata key=RE2 that must match (repeatable)")
	fs.Var(&c.types, "type", "include only this type: api or system (repeatable)")
	fs.Var(&c.exTyps, "exclude-type", "exclude this type: api or system (repeatable)")
}

func (c *searchCommand) search(ctx context.Context) error {
	filter, err := c.filter(time.Now())
	if err != nil {
		return fmt.Errorf("event search: %w", err)
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	req := &pb.SearchEventsRequest{Filter: filter, PageSize: int32(c.pageSize), PageToken: c.pageTok}
	var table *tableWriter
	if c.output == "table" {
		table = newTableWriter(c.env.stdout)
	}
	all := &pb.SearchEventsResponse{}
	for {
		resp, err := cl.SearchEvents(ctx, req)
		if err != nil {
			return err
		}
		for _, e := range resp.Events {
			switch c.output {
			case "table":
				table.write(e)
			case "jsonl":
				if err := printJSONLine(c.env.stdout, e); err != nil {
					return err
				}
			}
		}
		all.Events = append(all.Events, resp.Events...)
		all.NextPageToken, all.SearchedUntilTime = resp.NextPageToken, resp.SearchedUntilTime
		if !c.all || resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	switch c.output {
	case "table":
		if err := table.flush(); err != nil {
			return err
		}
	case "json":
		return printJSON(c.env.stdout, all)
	}
	if all.NextPageToken != "" && c.output != "json" {
		fmt.Fprintf(c.env.stderr, "more results: --all, or --page-token %s\n", all.NextPageToken)
	}
	return nil
}

func (c *searchCommand) filter(now time.Time) (*pb.Filter, error) {
	f := &pb.Filter{
		EventSourceExact: c.exact[0].v, EventSourceRegex: c.regex[0].v,
		ActionExact: c.exact[1].v, ActionRegex: c.regex[1].v,
		PrincipalExact: c.exact[2].v, PrincipalRegex: c.regex[2].v,
		ResourceExact: c.exact[3].v, ResourceRegex: c.regex[3].v,
		WorkspaceExact: c.exact[4].v, WorkspaceRegex: c.regex[4].v,
		SourceIpAddressExact: c.exact[5].v, SourceIpAddressRegex: c.regex[5].v,
		StatusCodeRegex: c.statusRegex.v,
	}
	switch {
	case c.since != "" && c.start != "":
		return nil, fmt.Errorf("--since and --start are exclusive")
	case c.since != "":
		d, err := parseSince(c.since)
		if err != nil {
			return nil, err
		}
		f.StartEventTime = timestamppb.New(now.Add(-d))
	case c.start != "":
		t, err := time.Parse(time.RFC3339Nano, c.start)
		if err != nil {
			return nil, fmt.Errorf("--start: %w", err)
		}
		f.StartEventTime = timestamppb.New(t)
	}
	if c.until != "" {
		t, err := time.Parse(time.RFC3339Nano, c.until)
		if err != nil {
			return nil, fmt.Errorf("--until: %w", err)
		}
		f.EndEventTime = timestamppb.New(t)
	}
	if c.readOnly != "" {
		b, err := strconv.ParseBool(c.readOnly)
		if err != nil {
			return nil, fmt.Errorf("--read-only %q: must be true or false", c.readOnly)
		}
		f.ReadOnly = &b
	}
	var err error
	if f.MetadataExact, err = parseKV("metadata", c.metadata); err != nil {
		return nil, err
	}
	if f.MetadataRegex, err = parseKV("metadata-regex", c.metadataRegex); err != nil {
		return nil, err
	}
	for _, t := range c.types {
		v, err := parseType(t)
		if err != nil {
			return nil, err
		}
		f.IncludeTypes = append(f.IncludeTypes, v)
	}
	for _, t := range c.exTyps {
		v, err := parseType(t)
		if err != nil {
			return nil, fmt.Errorf("--exclude-%w", err)
		}
		f.ExcludeTypes = append(f.ExcludeTypes, v)
	}
	return f, nil
}

// parseSince accepts Go durations plus a day suffix ("7d").
func parseSince(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("--since %q: not a duration", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--since %q: not a duration", s)
	}
	return d, nil
}
