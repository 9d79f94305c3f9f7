package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

var canonicalJSON = protojson.MarshalOptions{EmitUnpopulated: true}

// printJSON prints m indented. protojson varies its whitespace on purpose,
// so the output is re-indented to be stable for scripts and diffs.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := canonicalJSON.Marshal(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// printJSONLine prints m as one compact line of canonical JSON.
func printJSONLine(w io.Writer, m proto.Message) error {
	b, err := canonicalJSON.Marshal(m)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// tableWriter prints events as columns sized to the terminal ($COLUMNS, else
// 120 characters): long principals, actions and resources are shortened.
type tableWriter struct {
	tw     *tabwriter.Writer
	widths [4]int
}

func newTableWriter(w io.Writer) *tableWriter {
	cols := 120
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 60 {
		cols = n
	}
	// TIME (20) and STATUS (3) are fixed; the rest share what is left.
	rest := cols - 20 - 6 - 4*2
	t := &tableWriter{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.widths = [4]int{rest * 22 / 100, rest * 33 / 100, rest * 30 / 100, rest * 15 / 100}
	fmt.Fprintln(t.tw, "TIME\tPRINCIPAL\tACTION\tSTATUS\tRESOURCE\tID")
	return t
}

func (t *tableWriter) write(e *pb.Event) {
	fmt.Fprintf(t.tw, "%s\t%s\t%s\t%d\t%s\t%s\n",
		e.GetEventTime().AsTime().UTC().Format(time.RFC3339),
		shorten(e.GetPrincipal(), t.widths[0]), shorten(e.GetAction(), t.widths[1]),
		e.GetStatus().GetCode(), shorten(e.GetResource(), t.widths[2]),
		strings.TrimPrefix(e.GetName(), "events/"))
}

func (t *tableWriter) flush() error { return t.tw.Flush() }

func shorten(s string, n int) string {
	if n < 4 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
