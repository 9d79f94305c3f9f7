package viewer

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// exportColumns are the CSV columns: every field of an event.
var exportColumns = []string{"name", "event_time", "receive_time", "event_source", "action", "read_only", "status", "principal",
	"login_principal", "source_ip_address", "resource", "workspace", "user_agent", "type", "metadata", "request_parameters"}

// csvCell guards against formula injection: spreadsheet programs evaluate a
// cell that starts with = + - @ (or a tab or carriage return), so such cells
// get a leading apostrophe.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// export streams the whole filtered result set (every page, not just the
// loaded one) as CSV or JSONL (the API's canonical JSON, one event per
// line), following page tokens on the server side.
func (v *Viewer) export(w http.ResponseWriter, r *http.Request) {
	ctx, ok := callerContext(r)
	if !ok {
		v.needSignin(w, r)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "csv" && format != "jsonl" {
		http.Error(w, "format: must be csv or jsonl", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	q.Del("page_token")
	sv := &searchView{}
	req, errs := v.parseSearch(q, sv)
	if len(errs) > 0 {
		for _, e := range errs {
			http.Error(w, e, http.StatusBadRequest)
			return
		}
	}
	req.PageSize = 1000
	first, err := v.api.SearchEvents(ctx, req)
	if err != nil {
		st := status.Convert(err)
		http.Error(w, st.Message(), runtime.HTTPStatusFromCode(st.Code()))
		return
	}
	ext, ctype := ".csv", "text/csv; charset=utf-8"
	if format == "jsonl" {
		ext, ctype = ".jsonl", "application/x-ndjson"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="audittrail-events`+ext+`"`)
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	if format == "csv" {
		cw.Write(exportColumns)
	}
	resp := first
	for {
		for _, e := range resp.GetEvents() {
			if format == "jsonl" {
				b, _ := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(e)
				bw.Write(b)
				bw.WriteByte('\n')
				continue
			}
			row := make([]string, len(exportColumns))
			for i, c := range exportColumns {
				row[i] = csvCell(exportValue(e, c))
			}
			cw.Write(row)
		}
		cw.Flush()
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
		if resp, err = v.api.SearchEvents(ctx, req); err != nil {
			// The status line is gone; end the body with a marker so a
			// truncated export is never taken for a complete one.
			v.opts.Logger.Warn("viewer: export interrupted", "err", err)
			bw.WriteString("\n# export interrupted: " + status.Convert(err).Message() + "\n")
			break
		}
	}
	bw.Flush()
}

func exportValue(e *pb.Event, col string) string {
	switch col {
	case "metadata", "request_parameters":
		m := e.GetMetadata()
		if col == "request_parameters" {
			m = e.GetRequestParameters()
		}
		if len(m) == 0 {
			return ""
		}
		b, _ := json.Marshal(m) // sorted keys
		return string(b)
	}
	return fieldValue(e, col)
}
