package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// requestInfo is what the transport knows of a caller, captured once from
// the HTTP request for both gRPC and REST calls.
type requestInfo struct {
	remoteIP      string
	userAgent     string
	authorization string
	// certPrincipal is the services/… principal of a verified client
	// certificate (mutual TLS), or "".
	certPrincipal string
	// identity is the caller, once admission authenticated it from the
	// headers.
	identity *Identity
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

// Handler returns the one handler for the internal port: gRPC (HTTP/2 with
// content-type application/grpc), the REST gateway under /v1/, and /healthz,
// /readyz, /metrics, /version and /openapi.json.
func (s *Server) Handler() (http.Handler, error) { return s.handler(false) }

// PublicHandler is Handler for a public listener that serves the read RPCs
// only: the REST create routes answer 405 and gRPC creates answer
// PERMISSION_DENIED, whoever calls.
func (s *Server) PublicHandler() (http.Handler, error) { return s.handler(true) }

// writeRPCs are the RPCs a public listener refuses.
var writeRPCs = map[string]bool{
	pb.EventService_CreateEvent_FullMethodName:       true,
	pb.EventService_BatchCreateEvents_FullMethodName: true,
	pb.TokenService_CreateToken_FullMethodName:       true,
	pb.TokenService_ListTokens_FullMethodName:        true,
	pb.TokenService_RevokeTokens_FullMethodName:      true,
	pb.SinkService_ListSinks_FullMethodName:          true,
}

// openGRPC reports the gRPC services that need no token: health checks
// (as /readyz) and reflection (the API's own schema, public in its protos).
func openGRPC(path string) bool {
	return strings.HasPrefix(path, "/grpc.health.v1.Health/") || strings.HasPrefix(path, "/grpc.reflection.")
}

// streamingRoutes are exempt from the connection read and write timeouts.
var streamingRoutes = map[string]bool{
	pb.EventService_TailEvents_FullMethodName: true,
	healthpb.Health_Watch_FullMethodName:      true,
	"/ui/tail":                                true, "/ui/export": true,
}

// MetricsHandler serves the Prometheus metrics, for the internal listener
// and --metrics-addr.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{})
}

// takesNoQuery reports the REST routes whose request is all in the body or
// the path (the others refuse unknown parameters in the query parser).
func takesNoQuery(method, path string) bool {
	switch method + " " + path {
	case "POST /v1/events:batchCreate", "POST /v1/events:search", "POST /v1/tokens", "POST /v1/tokens:revoke", "GET /v1/tokens", "GET /v1/sinks":
		return true
	}
	id, ok := strings.CutPrefix(path, "/v1/events/")
	return method == http.MethodGet && ok && !strings.Contains(id, "/")
}

// writeRoutes are the REST routes of writeRPCs (all refused on a public
// listener; only their POSTs count as writes for admission).
var writeRoutes = map[string]bool{"/v1/events": true, "/v1/events:batchCreate": true, "/v1/tokens": true, "/v1/tokens:revoke": true, "/v1/sinks": true, k8sAuditRoute: true, otlpLogsRoute: true, keycloakRoute: true}

func errReadOnlyListener() error {
	return withClientMessage("this address serves read RPCs only; create events and manage tokens on the internal address", errPermissionDenied)
}

func (s *Server) handler(readOnly bool) (http.Handler, error) {
	codec := newGRPCCodec()
	onBad := func(method string, err error) {
		rpc := method[strings.LastIndexByte(method, '/')+1:]
		s.metrics.requests.WithLabelValues(rpc, codes.InvalidArgument.String()).Inc()
		s.logger.Debug("rpc with a malformed message", "rpc", rpc, "err", err)
	}
	unary := []grpc.UnaryServerInterceptor{codec.unary(onBad)}
	if readOnly {
		unary = append(unary, func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			if writeRPCs[info.FullMethod] {
				return nil, toStatus(errReadOnlyListener()).Err()
			}
			return next(ctx, req)
		})
	}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(s.cfg.MaxBodyBytes)),
		grpc.MaxSendMsgSize(int(2 * s.cfg.MaxBodyBytes)),
		grpc.ForceServerCodecV2(codec),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(codec.stream(onBad)),
	}
	gs := grpc.NewServer(opts...)
	pb.RegisterEventServiceServer(gs, s)
	pb.RegisterLogServiceServer(gs, &logServer{s: s})
	pb.RegisterTokenServiceServer(gs, &tokenServer{s: s})
	pb.RegisterSinkServiceServer(gs, &sinkServer{s: s})
	healthpb.RegisterHealthServer(gs, &healthServer{s: s})
	reflection.Register(gs)

	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, newRESTJSON()),
		runtime.SetQueryParameterParser(&strictQuery{}),
		runtime.WithErrorHandler(writeStatusError),
		runtime.WithRoutingErrorHandler(func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
			writeJSONError(w, code, routingCode(code), strings.ToLower(http.StatusText(code)))
		}),
	)
	if err := pb.RegisterEventServiceHandlerServer(context.Background(), gw, s); err != nil {
		return nil, fmt.Errorf("server: register gateway: %w", err)
	}
	if err := pb.RegisterLogServiceHandlerServer(context.Background(), gw, &logServer{s: s}); err != nil {
		return nil, fmt.Errorf("server: register gateway: %w", err)
	}
	if err := pb.RegisterTokenServiceHandlerServer(context.Background(), gw, &tokenServer{s: s}); err != nil {
		return nil, fmt.Errorf("server: register gateway: %w", err)
	}
	if err := pb.RegisterSinkServiceHandlerServer(context.Background(), gw, &sinkServer{s: s}); err != nil {
		return nil, fmt.Errorf("server: register gateway: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := s.store.Ping(ctx); err != nil {
			// The cause (disk full, database down, a failed write) is for
			// the operator looking at the probe.
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, toStatus(err).Message())
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if !readOnly { // metrics are for operators, never on the public listener
		mux.Handle("GET /metrics", s.MetricsHandler())
	}
	// No token for these two, on every listener: H2O's client probes
	// /version before it signs in and stops unless it answers 2xx.
	versionJSON, err := json.Marshal(s.cfg.Version)
	if err != nil {
		return nil, fmt.Errorf("server: version: %w", err)
	}
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(versionJSON)
	})
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(pb.OpenAPIJSON)
	})
	if s.cfg.K8sAudit != nil && !readOnly {
		mux.HandleFunc("POST "+k8sAuditRoute, s.kubernetesAudit)
	}
	if s.cfg.OTLPLogs && !readOnly {
		mux.HandleFunc("POST "+otlpLogsRoute, s.otlpLogs)
	}
	if len(s.cfg.KeycloakSecret) > 0 && !readOnly {
		mux.HandleFunc("POST "+keycloakRoute, s.keycloakEvents)
	}
	mux.Handle("/", gw)
	if s.ui != nil {
		ui, err := s.ui(s)
		if err != nil {
			return nil, err
		}
		mux.Handle("GET /{$}", ui)
		mux.Handle("/ui/", ui)
	}

	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if streamingRoutes[r.URL.Path] {
			// Streams outlive the server's read and write timeouts, which
			// are for ordinary requests and slow or stuck clients; these
			// end with their client, the server's shutdown, or on their
			// own heartbeat checks.
			rc := http.NewResponseController(w)
			rc.SetReadDeadline(time.Time{})
			rc.SetWriteDeadline(time.Time{})
		}
		grpcCall := r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
		if (grpcCall && !openGRPC(r.URL.Path)) || strings.HasPrefix(r.URL.Path, "/v1/") || strings.HasPrefix(r.URL.Path, "/adapters/") {
			if readOnly && !grpcCall && writeRoutes[r.URL.Path] {
				w.Header().Set("Allow", "")
				writeJSONError(w, http.StatusMethodNotAllowed, codes.Unimplemented, toStatus(errReadOnlyListener()).Message())
				return
			}
			write := (grpcCall && writeRPCs[r.URL.Path]) || (!grpcCall && r.Method == http.MethodPost && writeRoutes[r.URL.Path])
			var release func()
			var ok bool
			if r, release, ok = s.admit(w, r, grpcCall, write); !ok {
				return
			}
			defer release()
		}
		if grpcCall {
			gs.ServeHTTP(w, r)
			return
		}
		if r.URL.RawQuery != "" && takesNoQuery(r.Method, r.URL.Path) {
			// The gateway does not parse a query for these, so it would
			// ignore one silently.
			keys := slices.Sorted(maps.Keys(r.URL.Query()))
			writeJSONError(w, http.StatusBadRequest, codes.InvalidArgument,
				fmt.Sprintf("query parameter %q: unknown (this method takes none)", append(keys, r.URL.RawQuery)[0]))
			return
		}
		if r.ContentLength > s.cfg.MaxBodyBytes {
			writeJSONError(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted,
				fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, s.cfg.MaxBodyBytes))
			return
		}
		body := &limitedBody{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), limit: s.cfg.MaxBodyBytes}
		r.Body = body
		r = r.WithContext(context.WithValue(r.Context(), limitedBodyKey{}, body))
		mux.ServeHTTP(w, r)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{
			remoteIP:      remoteIP(r.RemoteAddr),
			userAgent:     r.Header.Get("User-Agent"),
			authorization: r.Header.Get("Authorization"),
		}
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
			ri.certPrincipal = certPrincipal(r.TLS.VerifiedChains[0][0])
		}
		rec := &statusRecorder{ResponseWriter: w}
		serve.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri)))
		s.logRequest(r, rec, ri, time.Since(start))
	}), nil
}

// statusRecorder remembers the HTTP status an answer was sent with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush and Unwrap keep streaming (gRPC, server-sent events) and
// http.ResponseController working through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequest writes the one info line of a request: no token, no payload.
// Probes (/healthz, /readyz, /metrics) are logged at debug.
func (s *Server) logRequest(r *http.Request, rec *statusRecorder, ri *requestInfo, d time.Duration) {
	level := slog.LevelInfo
	kind := "other"
	switch {
	case r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" || r.URL.Path == "/version":
		level, kind = slog.LevelDebug, "probe"
	case rec.Header().Get("Grpc-Status") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc"):
		kind = "grpc"
	case strings.HasPrefix(r.URL.Path, "/v1/"):
		kind = "api"
	case r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/ui/"):
		kind = "viewer"
	}
	s.metrics.httpReqs.WithLabelValues(kind, strconv.Itoa(max(rec.status, http.StatusOK))).Inc()
	if !s.logger.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method), slog.String("route", r.URL.Path), slog.Int("status", max(rec.status, http.StatusOK)),
		slog.Duration("duration", d), slog.String("remote", ri.remoteIP),
	}
	if code := rec.Header().Get("Grpc-Status"); code != "" {
		attrs = append(attrs, slog.String("grpc_code", code))
	}
	if ri.identity != nil {
		attrs = append(attrs, slog.String("principal", ri.identity.Principal))
	}
	s.logger.LogAttrs(r.Context(), level, "request", attrs...)
}

func remoteIP(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

func routingCode(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusMethodNotAllowed:
		return codes.Unimplemented
	case http.StatusBadRequest:
		return codes.InvalidArgument
	}
	return codes.Internal
}

// limitedBody remembers that a body without a declared length ran past the
// limit, so the error handler can answer 413 like for a declared one.
type limitedBody struct {
	r        io.ReadCloser
	limit    int64
	exceeded bool
}

type limitedBodyKey struct{}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.exceeded = true
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

// writeStatusError is the gateway's error handler: the gRPC code mapped to
// its HTTP status and the body {"code": N, "message": "…"}.
func writeStatusError(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	if b, ok := ctx.Value(limitedBodyKey{}).(*limitedBody); ok && b.exceeded {
		writeJSONError(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted,
			fmt.Sprintf("request body exceeds the limit of %d bytes", b.limit))
		return
	}
	st, ok := status.FromError(err)
	if !ok {
		// Errors that reach the gateway without a status come from decoding
		// the request (bad JSON, unknown field, body too large).
		st = status.New(codes.InvalidArgument, "invalid request body: "+err.Error())
	}
	writeJSONError(w, runtime.HTTPStatusFromCode(st.Code()), st.Code(), st.Message())
}

func writeJSONError(w http.ResponseWriter, httpStatus int, code codes.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	json.NewEncoder(w).Encode(struct {
		Code    int32  `json:"code"`
		Message string `json:"message"`
	}{int32(code), msg})
}
