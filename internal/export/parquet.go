package export

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/audittrail/audittrail/internal/event"
)

// ParquetRow is one event as a Parquet row (docs/EXPORT.md). Timestamps are
// microseconds (what Athena and most engines read); the archive keeps the
// exact nanoseconds.
type ParquetRow struct {
	ID                string            `parquet:"id"`
	Seq               int64             `parquet:"seq"`
	EventTime         time.Time         `parquet:"event_time,timestamp(microsecond)"`
	ReceiveTime       time.Time         `parquet:"receive_time,timestamp(microsecond)"`
	EventSource       string            `parquet:"event_source"`
	Action            string            `parquet:"action"`
	ReadOnly          bool              `parquet:"read_only"`
	StatusCode        int32             `parquet:"status_code"`
	StatusMessage     string            `parquet:"status_message"`
	Principal         string            `parquet:"principal"`
	SourceIPAddress   string            `parquet:"source_ip_address"`
	Resource          string            `parquet:"resource"`
	Workspace         string            `parquet:"workspace"`
	UserAgent         string            `parquet:"user_agent"`
	Type              string            `parquet:"type"`
	Metadata          map[string]string `parquet:"metadata"`
	RequestParameters map[string]string `parquet:"request_parameters"`
}

// ParquetSink writes Hive-partitioned Parquet files for analytics:
//
//	<prefix>/dt=YYYY-MM-DD/<first>-<last>.parquet
//
// one file per batch and event-time day (UTC) of its events; first and
// last (20 digits) are the batch's seq range, so a redelivered batch
// rewrites the same keys with the same bytes.
type ParquetSink struct {
	objs   Objects
	prefix string
}

var _ Sink = (*ParquetSink)(nil)

// NewParquetSink returns the sink writing under prefix.
func NewParquetSink(objs Objects, prefix string) *ParquetSink {
	return &ParquetSink{objs: objs, prefix: prefix}
}

// Deliver implements Sink. The sink keeps no state.
func (p *ParquetSink) Deliver(ctx context.Context, state []byte, b Batch) ([]byte, error) {
	days := map[string][]ParquetRow{}
	for _, r := range b.Records {
		day := r.Event.EventTime.UTC().Format("2006-01-02")
		days[day] = append(days[day], toRow(r.Seq, r.Event))
	}
	for _, day := range slices.Sorted(maps.Keys(days)) {
		var buf bytes.Buffer
		if err := parquet.Write(&buf, days[day], parquet.Compression(&parquet.Zstd), parquet.CreatedBy("audittrail", "", "")); err != nil {
			return nil, fmt.Errorf("export: parquet: %w", err)
		}
		key := joinKey(p.prefix, "dt="+day, fmt.Sprintf("%020d-%020d.parquet", b.First, b.Last))
		if err := putOnce(ctx, p.objs, key, buf.Bytes(), "application/vnd.apache.parquet"); err != nil {
			return nil, err
		}
	}
	return state, nil
}

func toRow(seq uint64, e *event.Event) ParquetRow {
	typ := "TYPE_API"
	if e.Type == event.TypeSystem {
		typ = "TYPE_SYSTEM"
	}
	return ParquetRow{
		ID: e.ID, Seq: int64(seq), EventTime: e.EventTime.UTC(), ReceiveTime: e.ReceiveTime.UTC(),
		EventSource: e.EventSource, Action: e.Action, ReadOnly: e.ReadOnly,
		StatusCode: e.Status.Code, StatusMessage: e.Status.Message,
		Principal: e.Principal, SourceIPAddress: e.SourceIPAddress, Resource: e.Resource, Workspace: e.Workspace,
		UserAgent: e.UserAgent, Type: typ, Metadata: e.Metadata, RequestParameters: e.RequestParameters,
	}
}
