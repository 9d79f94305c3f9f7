package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc/codes"

	"github.com/audittrail/audittrail/internal/adapters/keycloak"
	"github.com/audittrail/audittrail/internal/adapters/otlplogs"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

// adapted is what an adapter did with one delivery.
type adapted struct {
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
	Invalid    int `json:"invalid"`
	Skipped    int `json:"skipped"`
}

// storeAdapted validates converted events and stores the valid ones in
// batches: an invalid one is counted and logged, never fatal to the
// delivery (the sources resend whole deliveries on any error); an event
// stored already (a resent delivery: ids are derived) is a duplicate.
func (s *Server) storeAdapted(ctx context.Context, adapter string, events []*event.Event, res *adapted) error {
	now := s.now()
	valid := make([]*event.Event, 0, len(events))
	for _, e := range events {
		if err := s.cfg.Rules.Normalize(e, now); err != nil {
			res.Invalid++
			s.metrics.adapterItems.WithLabelValues(adapter, "invalid").Inc()
			s.logger.Warn("adapter: event not stored", "adapter", adapter, "err", err)
			continue
		}
		valid = append(valid, e)
	}
	for len(valid) > 0 {
		chunk := valid[:min(len(valid), maxBatch)]
		valid = valid[len(chunk):]
		results, err := s.appendEvents(ctx, chunk)
		if err != nil {
			return err
		}
		for _, r := range results {
			switch {
			case r.Err == nil:
				res.Stored++
			case errors.Is(r.Err, store.ErrAlreadyExists):
				res.Duplicates++
			}
		}
	}
	s.metrics.accepted.Add(float64(res.Stored))
	s.metrics.adapterItems.WithLabelValues(adapter, "stored").Add(float64(res.Stored))
	s.metrics.adapterItems.WithLabelValues(adapter, "duplicate").Add(float64(res.Duplicates))
	return nil
}

// StoreAdapted stores the events an in-process adapter (the Keycloak
// puller) converted, as storeAdapted does for the pushed ones.
func (s *Server) StoreAdapted(ctx context.Context, adapter string, events []*event.Event) error {
	res := &adapted{}
	err := s.storeAdapted(ctx, adapter, events, res)
	s.logger.Debug("adapter: stored", "adapter", adapter, "stored", res.Stored, "duplicates", res.Duplicates, "invalid", res.Invalid)
	return err
}

var _ keycloak.Sink = (*Server)(nil)

// creatorBody reads the body of a request whose caller (authenticated by
// admission) must hold events.create; it answers the refusal itself.
func creatorBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	ri := requestInfoFrom(r.Context())
	if ri == nil || ri.identity == nil || !ri.identity.Create {
		writeJSONError(w, http.StatusForbidden, codes.PermissionDenied, "events.create permission required")
		return nil, false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSONError(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "request body too large")
		return nil, false
	}
	return body, true
}

// answerAdapted writes the delivery's outcome.
func answerAdapted(w http.ResponseWriter, res *adapted, err error) {
	if err != nil {
		st := toStatus(err)
		writeJSONError(w, runtime.HTTPStatusFromCode(st.Code()), st.Code(), st.Message())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

// keycloakRoute takes Keycloak's events from an event-listener webhook
// extension; the HMAC-SHA256 signature of the body is the credential.
const keycloakRoute = "/adapters/keycloak/events"

// keycloakSignatureHeader carries the hex HMAC-SHA256 of the body.
const keycloakSignatureHeader = "X-Keycloak-Signature"

func (s *Server) keycloakEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSONError(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "request body too large")
		return
	}
	if err := keycloak.VerifySignature(s.cfg.KeycloakSecret, body, r.Header.Get(keycloakSignatureHeader)); err != nil {
		writeJSONError(w, http.StatusUnauthorized, codes.Unauthenticated, keycloakSignatureHeader+": missing, or not the HMAC-SHA256 of the body under the shared secret")
		return
	}
	list, err := keycloak.Decode(body)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, codes.InvalidArgument, "request body: must be a Keycloak event or a list of them")
		return
	}
	events := make([]*event.Event, 0, len(list))
	for i := range list {
		events = append(events, keycloak.Convert(&list[i]))
	}
	res := &adapted{}
	answerAdapted(w, res, s.storeAdapted(r.Context(), "keycloak", events, res))
}

// otlpLogsRoute is OTLP/HTTP's logs path: OpenTelemetry exporters send
// their log records here, and those following the audit.* attribute
// contract are stored.
const otlpLogsRoute = "/v1/logs"

func (s *Server) otlpLogs(w http.ResponseWriter, r *http.Request) {
	body, ok := creatorBody(w, r)
	if !ok {
		return
	}
	var err error
	req := plogotlp.NewExportRequest()
	ctype := strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0])
	switch ctype {
	case "application/x-protobuf":
		err = req.UnmarshalProto(body)
	case "application/json":
		err = req.UnmarshalJSON(body)
	default:
		writeJSONError(w, http.StatusUnsupportedMediaType, codes.InvalidArgument, "Content-Type: must be application/x-protobuf or application/json")
		return
	}
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, codes.InvalidArgument, "request body: not an OTLP ExportLogsServiceRequest")
		return
	}
	res := &adapted{}
	var events []*event.Event
	firstErr := ""
	for _, rec := range otlplogs.Convert(req.Logs()) {
		if rec.Err != nil {
			res.Invalid++
			s.metrics.adapterItems.WithLabelValues("otlp", "invalid").Inc()
			if firstErr == "" {
				firstErr = rec.Err.Error()
			}
			continue
		}
		events = append(events, rec.Event)
	}
	before := res.Invalid
	if err := s.storeAdapted(r.Context(), "otlp", events, res); err != nil {
		answerAdapted(w, res, err)
		return
	}
	if res.Invalid > before && firstErr == "" {
		firstErr = "a record breaks the event rules (see the server log)"
	}
	resp := plogotlp.NewExportResponse()
	if res.Invalid > 0 {
		resp.PartialSuccess().SetRejectedLogRecords(int64(res.Invalid))
		resp.PartialSuccess().SetErrorMessage(firstErr)
	}
	var out []byte
	if ctype == "application/json" {
		out, err = resp.MarshalJSON()
	} else {
		out, err = resp.MarshalProto()
	}
	if err != nil {
		answerAdapted(w, res, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Write(out)
}
