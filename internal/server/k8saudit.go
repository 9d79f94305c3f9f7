package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"

	"github.com/audittrail/audittrail/internal/adapters/k8saudit"
	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

// k8sAuditRoute takes the Kubernetes API server's audit webhook batches.
const k8sAuditRoute = "/v1/adapters/kubernetes/audit"

// kubernetesAudit stores an audit.k8s.io/v1 EventList. The apiserver
// resends a whole batch on any non-2xx answer and drops it after about a
// minute, so one bad item never fails the batch: the others are stored and
// the bad ones counted and logged; only a store that cannot write (503)
// or admission (429/503) turn it away. Ids derive from the events, so a
// resent batch is stored once.
func (s *Server) kubernetesAudit(w http.ResponseWriter, r *http.Request) {
	ri := requestInfoFrom(r.Context())
	if ri == nil || ri.identity == nil || !ri.identity.Create {
		writeJSONError(w, http.StatusForbidden, codes.PermissionDenied, "events.create permission required")
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSONError(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted, "request body too large")
		return
	}
	var list k8saudit.EventList
	if err := json.Unmarshal(b, &list); err != nil || list.Kind != "EventList" {
		writeJSONError(w, http.StatusBadRequest, codes.InvalidArgument, "request body: must be an audit.k8s.io/v1 EventList")
		return
	}
	now := s.now()
	var valid []*event.Event
	skipped, invalid := 0, 0
	for i := range list.Items {
		item := &list.Items[i]
		if !k8saudit.Converts(item.Stage) {
			skipped++
			continue
		}
		e := s.cfg.K8sAudit.Convert(item)
		if err := s.cfg.Rules.Normalize(e, now); err != nil {
			invalid++
			s.metrics.adapterItems.WithLabelValues("kubernetes", "invalid").Inc()
			s.logger.Warn("kubernetes audit event not stored", "audit_id", item.AuditID, "err", err)
			continue
		}
		valid = append(valid, e)
	}
	stored, duplicates := 0, 0
	for len(valid) > 0 {
		chunk := valid[:min(len(valid), maxBatch)]
		valid = valid[len(chunk):]
		res, err := s.appendEvents(r.Context(), chunk)
		if err != nil {
			st := toStatus(err)
			writeJSONError(w, runtime.HTTPStatusFromCode(st.Code()), st.Code(), st.Message())
			return
		}
		for _, r := range res {
			if r.Err == nil {
				stored++
			} else if errors.Is(r.Err, store.ErrAlreadyExists) {
				duplicates++
			}
		}
	}
	s.metrics.accepted.Add(float64(stored))
	s.metrics.adapterItems.WithLabelValues("kubernetes", "stored").Add(float64(stored))
	s.metrics.adapterItems.WithLabelValues("kubernetes", "duplicate").Add(float64(duplicates))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]int{"stored": stored, "duplicates": duplicates, "invalid": invalid, "skipped": skipped})
}
