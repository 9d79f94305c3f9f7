package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

type createCommand struct {
	env *env
	cf  clientFlags

	id, timeStr, source, action, principal, ip, statusMessage string
	resource, userAgent, typ, file                            string
	workspace                                                 optionalFlag
	readOnly                                                  bool
	statusCode                                                int
	metadata, params                                          multiFlag
}

// Run stores one event and prints it as stored.
func (c *createCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("event create")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	fs.StringVar(&c.id, "id", "", "event id, a UUIDv4 (default: a new one)")
	fs.StringVar(&c.timeStr, "time", "", "event time, RFC 3339 (default: now)")
	fs.StringVar(&c.source, "source", "", "event_source")
	fs.StringVar(&c.action, "action", "", "action")
	fs.StringVar(&c.principal, "principal", "", "principal: users/<id> or services/<name>")
	fs.StringVar(&c.ip, "ip", "", "source IP address or 'private'")
	fs.BoolVar(&c.readOnly, "read-only", false, "the action only read")
	fs.IntVar(&c.statusCode, "status-code", 0, "google.rpc.Code of the outcome")
	fs.StringVar(&c.statusMessage, "status-message", "", "status message")
	fs.StringVar(&c.resource, "resource", "", "resource name")
	fs.Var(&c.workspace, "workspace", "workspace_override: workspaces/<id>, or '' for none (default: derived from --resource)")
	fs.StringVar(&c.userAgent, "user-agent", "", "user agent")
	fs.Var(&c.metadata, "metadata", "metadata key=value (repeatable)")
	fs.Var(&c.params, "param", "request parameter key=value (repeatable)")
	fs.StringVar(&c.typ, "type", "", "api or system")
	fs.StringVar(&c.file, "file", "", "read the event from this JSON file instead of flags")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("event create: unexpected arguments %q", fs.Args())
	}
	e, err := c.event()
	if err != nil {
		return err
	}
	id := c.id
	if id == "" {
		id = uuid.NewString()
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	out, err := cl.CreateEvent(ctx, id, e)
	if err != nil {
		return err
	}
	return printJSON(c.env.stdout, out.GetEvent())
}

func (c *createCommand) event() (*pb.Event, error) {
	if c.file != "" {
		b, err := os.ReadFile(c.file)
		if err != nil {
			return nil, fmt.Errorf("event create: %w", err)
		}
		e := &pb.Event{}
		if err := protojson.Unmarshal(b, e); err != nil {
			return nil, fmt.Errorf("event create: %s: %w", c.file, err)
		}
		return e, nil
	}
	t := time.Now()
	if c.timeStr != "" {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, c.timeStr); err != nil {
			return nil, fmt.Errorf("event create: --time: %w", err)
		}
	}
	typ, err := parseType(c.typ)
	if err != nil {
		return nil, err
	}
	md, err := parseKV("metadata", c.metadata)
	if err != nil {
		return nil, err
	}
	params, err := parseKV("param", c.params)
	if err != nil {
		return nil, err
	}
	return &pb.Event{
		EventTime:         timestamppb.New(t),
		EventSource:       c.source,
		Action:            c.action,
		ReadOnly:          c.readOnly,
		Status:            &pb.Status{Code: int32(c.statusCode), Message: c.statusMessage},
		Principal:         c.principal,
		SourceIpAddress:   c.ip,
		Resource:          c.resource,
		WorkspaceOverride: c.workspace.v,
		UserAgent:         c.userAgent,
		Metadata:          md,
		RequestParameters: params,
		Type:              typ,
	}, nil
}

// parseType accepts api, system or the enum names (TYPE_API, …).
func parseType(s string) (pb.EventType, error) {
	switch s {
	case "":
		return pb.EventType_TYPE_UNSPECIFIED, nil
	case "api", "API":
		return pb.EventType_TYPE_API, nil
	case "system", "SYSTEM":
		return pb.EventType_TYPE_SYSTEM, nil
	}
	if v, ok := pb.EventType_value[s]; ok {
		return pb.EventType(v), nil
	}
	return 0, fmt.Errorf("--type %q: must be api or system", s)
}
