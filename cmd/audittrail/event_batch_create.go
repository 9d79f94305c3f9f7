package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

const batchLimit = 1000

type batchCreateCommand struct {
	env  *env
	cf   clientFlags
	file string
}

// Run stores the events of a JSONL file in batches of 1000. Each line is
// either a request {"event_id": …, "event": {…}} or a bare event (which gets
// a new id). Failures are reported with their line numbers; the exit status
// is 1 when any line failed.
func (c *batchCreateCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet("event batch-create")
	fs.SetOutput(c.env.stderr)
	c.cf.register(fs)
	fs.StringVar(&c.file, "file", "", "JSONL file of events, - for stdin (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if c.file == "" || fs.NArg() > 0 {
		return fmt.Errorf("event batch-create: --file is required and no arguments are taken")
	}
	var r io.Reader = c.env.stdin
	if c.file != "-" {
		f, err := os.Open(c.file)
		if err != nil {
			return fmt.Errorf("event batch-create: %w", err)
		}
		defer f.Close()
		r = f
	}
	cl, err := c.cf.client(c.env)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var (
		batch          []*pb.CreateEventRequest
		lines          []int
		stored, failed int
		lineNo         int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		resp, err := cl.BatchCreateEvents(ctx, &pb.BatchCreateEventsRequest{Requests: batch})
		if err != nil {
			return fmt.Errorf("event batch-create: batch of lines %d-%d: %w", lines[0], lines[len(lines)-1], err)
		}
		for i := range batch {
			if st, ok := resp.FailedRequests[int32(i)]; ok {
				failed++
				fmt.Fprintf(c.env.stderr, "line %d: code %d: %s\n", lines[i], st.Code, st.Message)
			}
		}
		stored += len(resp.Events)
		fmt.Fprintf(c.env.stderr, "progress: %d lines read, %d stored, %d failed\n", lineNo, stored, failed)
		batch, lines = batch[:0], lines[:0]
		return nil
	}
	for sc.Scan() {
		lineNo++
		text := sc.Bytes()
		if len(trimSpace(text)) == 0 {
			continue
		}
		req, err := parseBatchLine(text)
		if err != nil {
			failed++
			fmt.Fprintf(c.env.stderr, "line %d: %v\n", lineNo, err)
			continue
		}
		batch = append(batch, req)
		lines = append(lines, lineNo)
		if len(batch) == batchLimit {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("event batch-create: line %d: %w", lineNo+1, err)
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.env.stdout, "%d stored, %d failed\n", stored, failed)
	if failed > 0 {
		return exitError{1}
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func parseBatchLine(b []byte) (*pb.CreateEventRequest, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if _, ok := probe["event"]; ok {
		req := &pb.CreateEventRequest{}
		if err := protojson.Unmarshal(b, req); err != nil {
			return nil, err
		}
		if req.EventId == "" {
			req.EventId = uuid.NewString()
		}
		return req, nil
	}
	e := &pb.Event{}
	if err := protojson.Unmarshal(b, e); err != nil {
		return nil, err
	}
	return &pb.CreateEventRequest{EventId: uuid.NewString(), Event: e}, nil
}
