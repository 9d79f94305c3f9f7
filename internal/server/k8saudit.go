package server

import (
	"encoding/json"
	"net/http"

	"google.golang.org/grpc/codes"

	"github.com/audittrail/audittrail/internal/adapters/k8saudit"
	"github.com/audittrail/audittrail/internal/event"
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
	b, ok := creatorBody(w, r)
	if !ok {
		return
	}
	var list k8saudit.EventList
	if err := json.Unmarshal(b, &list); err != nil || list.Kind != "EventList" {
		writeJSONError(w, http.StatusBadRequest, codes.InvalidArgument, "request body: must be an audit.k8s.io/v1 EventList")
		return
	}
	res := &adapted{}
	events := make([]*event.Event, 0, len(list.Items))
	for i := range list.Items {
		if !k8saudit.Converts(list.Items[i].Stage) {
			res.Skipped++
			continue
		}
		events = append(events, s.cfg.K8sAudit.Convert(&list.Items[i]))
	}
	answerAdapted(w, res, s.storeAdapted(r.Context(), "kubernetes", events, res))
}
