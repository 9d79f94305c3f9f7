package server

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/audittrail/audittrail/internal/version"
)

type metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	accepted     prometheus.Counter
	batchSize    prometheus.Histogram
	storeSearch  prometheus.Histogram
	rejected     *prometheus.CounterVec
	tails        prometheus.Gauge
	adapterItems *prometheus.CounterVec
	httpReqs     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, v version.Info) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audittrail_requests_total",
			Help: "RPCs served, by RPC and gRPC status code.",
		}, []string{"rpc", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "audittrail_request_duration_seconds",
			Help:    "RPC latency, by RPC (SearchEvents is the search latency).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"rpc"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audittrail_events_accepted_total",
			Help: "Client events stored (self-audit events not counted).",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "audittrail_batch_size",
			Help:    "Requests per create call (1 for CreateEvent).",
			Buckets: []float64{1, 10, 50, 100, 250, 500, 1000},
		}),
		storeSearch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "audittrail_store_search_seconds",
			Help:    "Time the store took for one search page.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audittrail_requests_rejected_total",
			Help: "API requests refused before their body was read, by reason (unauthenticated, inflight_bytes, concurrent_writes, malformed).",
		}, []string{"reason"}),
	}
	m.tails = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "audittrail_tails_open",
		Help: "Live tails open now (gRPC TailEvents and the viewer's /ui/tail).",
	})
	m.adapterItems = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "audittrail_adapter_items_total",
		Help: "Items that ingest adapters received, by adapter and result (stored, duplicate, invalid).",
	}, []string{"adapter", "result"})
	m.httpReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "audittrail_http_requests_total",
		Help: "HTTP requests by kind (api, grpc, viewer, probe, other) and status code; gRPC calls count under 200, their codes are in audittrail_requests_total.",
	}, []string{"kind", "code"})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "audittrail_build_info",
		Help: "Always 1; the labels say which build is running (as GET /version).",
	}, []string{"version", "commit", "goversion"})
	build.WithLabelValues(v.Version, v.Commit, v.GoVersion).Set(1)
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.accepted, m.batchSize, m.storeSearch, m.rejected, m.tails, m.adapterItems, m.httpReqs, build} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: register metrics: %w", err)
		}
	}
	return m, nil
}
