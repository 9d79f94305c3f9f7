package export

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func TestParquetSinkPartitionsByDayWithTypedRows(t *testing.T) {
	l := newTestLog(t)
	l.add(t, 30) // event times one hour apart: two or three days
	root := t.TempDir()
	dir, _ := NewDir(root)
	runUntil(t, l, NewParquetSink(dir, "lake"), fastOptions("pq"), 30)
	keys, err := dir.List(context.Background(), "lake/")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := l.ReadRange(context.Background(), 0, 30)
	byID := map[string]bool{}
	for _, k := range keys {
		day := strings.TrimPrefix(strings.Split(k, "/")[1], "dt=")
		body, _ := dir.Get(context.Background(), k)
		rows, err := parquet.Read[ParquetRow](bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for _, r := range rows {
			if got := r.EventTime.UTC().Format("2006-01-02"); got != day {
				t.Fatalf("%s holds an event of %s", k, got)
			}
			e := want[r.Seq].Event
			if r.ID != e.ID || r.Principal != e.Principal || r.StatusCode != e.Status.Code || !r.EventTime.Equal(e.EventTime.Truncate(1000)) || len(r.Metadata) != len(e.Metadata) {
				t.Fatalf("row %+v does not match event %+v", r, e)
			}
			byID[r.ID] = true
		}
	}
	if len(byID) != 30 {
		t.Fatalf("%d distinct events in %d files, want 30", len(byID), len(keys))
	}
}
