package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"

	"github.com/audittrail/audittrail/internal/adapters/keycloak"
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
