// Package viewer is the web viewer served at / by the audittrail binary:
// server-rendered pages (html/template, no script) over the same
// EventService the API serves, called in-process with the signed-in
// caller's token, so the viewer shows exactly what the API returns to that
// caller. Every piece of view state lives in the URL.
package viewer

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// EventAPI is what the viewer needs of the server.
type EventAPI interface {
	SearchEvents(ctx context.Context, req *pb.SearchEventsRequest) (*pb.SearchEventsResponse, error)
	GetEvent(ctx context.Context, req *pb.GetEventRequest) (*pb.Event, error)
	// Tail sends matching events from sequence number from (negative:
	// from now on) until ctx ends, each with the position after it.
	Tail(ctx context.Context, filter *pb.Filter, from int64, send func(e *pb.Event, next int64) error) error
	GetEventProof(ctx context.Context, req *pb.GetEventProofRequest) (*pb.EventProof, error)
	// Principal authenticates the caller as every RPC does.
	Principal(ctx context.Context) (string, error)
}

// Options configure a Viewer. Start from DefaultOptions.
type Options struct {
	Logger *slog.Logger
	// Now is the clock of relative time ranges.
	Now func() time.Time
	// VerifierKey is the log's public key (a signed-note verifier key);
	// the event page's verification badge trusts only this key.
	VerifierKey string
	// OIDC, when set, offers sign-in through the issuer.
	OIDC *OIDCLogin
	// PlainHTTP says that browsers reach the viewer over plain HTTP (no
	// TLS anywhere in front of it), so its cookies cannot be Secure. The
	// default is Secure cookies, whether TLS ends here or at a proxy.
	// Browsers accept Secure cookies from http://localhost and loopback
	// addresses, so a local server works either way.
	PlainHTTP bool
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{Logger: slog.New(slog.DiscardHandler), Now: time.Now}
}

//go:embed assets
var assets embed.FS

// Viewer serves the pages.
type Viewer struct {
	api  EventAPI
	opts Options
	tmpl *template.Template
	oidc *oidcFlow // nil without OIDC sign-in

	stopOnce sync.Once
	stop     chan struct{} // closed by Shutdown
}

// Shutdown ends the open tails, so that a draining server is not held up
// by streams that never finish on their own.
func (v *Viewer) Shutdown() { v.stopOnce.Do(func() { close(v.stop) }) }

// New returns a viewer over api.
func New(api EventAPI, opts Options) (*Viewer, error) {
	if api == nil || opts.Logger == nil || opts.Now == nil {
		return nil, errors.New("viewer: api, logger and clock are required")
	}
	t, err := template.New("").Funcs(template.FuncMap{
		"field": fieldValue,
		"types": func() []string { return []string{"TYPE_API", "TYPE_SYSTEM"} },
		"short": func(s string, n int) string {
			if r := []rune(s); len(r) > n {
				return string(r[:n]) + "…"
			}
			return s
		},
	}).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("viewer: templates: %w", err)
	}
	v := &Viewer{api: api, opts: opts, tmpl: t, stop: make(chan struct{})}
	if opts.OIDC != nil {
		if err := opts.OIDC.Validate(); err != nil {
			return nil, err
		}
		v.oidc = &oidcFlow{cfg: *opts.OIDC}
	}
	return v, nil
}

// sessionCookie holds the bearer token for the browser session: HttpOnly
// (no script can read it), SameSite=Strict (no other site can send it), no
// expiry (gone when the browser closes).
const sessionCookie = "audittrail_session"

// csp allows nothing but this origin's script, stylesheet, requests and
// forms: no inline script or style, no other origin.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves GET / (search), /ui/events/{id} (detail), /ui/signin,
// /ui/signout and /ui/static/.
func (v *Viewer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", v.search)
	mux.HandleFunc("GET /ui/events/{id}", v.detail)
	mux.HandleFunc("GET /ui/events/{id}/proof", v.proof)
	mux.HandleFunc("GET /ui/export", v.export)
	mux.HandleFunc("GET /ui/tail", v.tail)
	mux.HandleFunc("GET /ui/signin", v.signinForm)
	// Every state-changing request must come from this origin
	// (Sec-Fetch-Site, else Origin against Host): no login CSRF, no
	// cross-site sign-out.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	mux.Handle("POST /ui/signin", csrf.Handler(http.HandlerFunc(v.signin)))
	mux.Handle("POST /ui/signout", csrf.Handler(http.HandlerFunc(v.signout)))
	if v.oidc != nil {
		mux.HandleFunc("GET /ui/oidc/login", v.oidcLogin)
		mux.HandleFunc("GET /ui/oidc/callback", v.oidcCallback)
	}
	static, _ := fs.Sub(assets, "assets/static")
	files := http.StripPrefix("/ui/static/", http.FileServerFS(static))
	mux.Handle("GET /ui/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

func (v *Viewer) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := v.tmpl.ExecuteTemplate(w, name, data); err != nil {
		v.opts.Logger.Error("viewer: render", "template", name, "err", err)
	}
}

// callerContext carries the session's token to the in-process API.
func callerContext(r *http.Request) (context.Context, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	return metadata.NewIncomingContext(r.Context(), metadata.Pairs("authorization", "Bearer "+c.Value)), true
}

// signinView is the sign-in page's data.
type signinView struct {
	Next  string
	Error string
	OIDC  bool
}

func (v *Viewer) signinForm(w http.ResponseWriter, r *http.Request) {
	v.render(w, http.StatusOK, "signin.html", signinView{Next: safeNext(r.URL.Query().Get("next")), OIDC: v.oidc != nil})
}

func (v *Viewer) signinError(w http.ResponseWriter, code int, next, msg string) {
	v.render(w, code, "signin.html", signinView{Next: next, Error: msg, OIDC: v.oidc != nil})
}

// setSession starts the browser session with a bearer token that the
// caller has verified.
func (v *Viewer) setSession(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: !v.opts.PlainHTTP, SameSite: http.SameSiteStrictMode})
}

func (v *Viewer) signin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	next := safeNext(r.PostForm.Get("next"))
	if tok == "" {
		v.signinError(w, http.StatusBadRequest, next, "token: required")
		return
	}
	// A session starts only with a token the API accepts: a wrong one is
	// said so here, not discovered on the next page.
	ctx := metadata.NewIncomingContext(r.Context(), metadata.Pairs("authorization", "Bearer "+tok))
	if _, err := v.api.Principal(ctx); err != nil {
		v.signinError(w, http.StatusUnauthorized, next, "token: "+status.Convert(err).Message())
		return
	}
	v.setSession(w, tok)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (v *Viewer) signout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: !v.opts.PlainHTTP, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

// safeNext keeps redirects on this site: it returns next only when it is a
// path of this origin (no scheme, no host, not `//` or `/\`, nothing a
// browser strips or rewrites such as tabs, newlines or backslashes), else
// "/".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	for _, c := range []byte(next) {
		if c <= ' ' || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

func (v *Viewer) needSignin(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// textFields are the string filters, by proto name, in form order.
var textFields = func() []string {
	var out []string
	for _, f := range []string{"event_source", "action", "principal", "resource", "workspace", "source_ip_address"} {
		out = append(out, f+"_exact", f+"_regex")
	}
	return append(out, "status_code_regex")
}()

// columns are the result table's columns; the default set is shown when
// the URL names none.
var (
	allColumns     = []string{"event_time", "principal", "login_principal", "action", "event_source", "resource", "workspace", "source_ip_address", "status", "read_only", "type", "user_agent", "receive_time"}
	defaultColumns = []string{"event_time", "principal", "action", "resource", "status"}
)

// ranges are the time range presets.
var ranges = []struct{ Key, Label string }{
	{"15m", "Last 15 minutes"}, {"1h", "Last hour"}, {"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"custom", "Custom"},
}

// searchView is the search page's data.
type searchView struct {
	Q            url.Values
	Self         string // this view's URL, for the way back from a detail
	TailSrc      string
	TextFields   []string
	Ranges       any
	Range        string
	Start, End   string
	Columns      []string
	AllColumns   []string
	Selected     map[string]bool
	Events       []*pb.Event
	Errors       map[string]string
	Error        string
	Older        string
	SearchedTo   string
	Metadata     []string
	MetadataRe   []string
	ReadOnly     string
	IncludeTypes []string
	ExcludeTypes []string
	ExportCSV    string
	ExportJSONL  string
}

const formTime = "2006-01-02T15:04:05Z07:00"

// parseSearch builds the request from the URL; errors are by form field.
func (v *Viewer) parseSearch(q url.Values, sv *searchView) (*pb.SearchEventsRequest, map[string]string) {
	errs := map[string]string{}
	f := &pb.Filter{}
	m := f.ProtoReflect()
	for _, name := range textFields {
		if val := strings.TrimSpace(q.Get(name)); val != "" {
			m.Set(m.Descriptor().Fields().ByName(protoreflect.Name(name)), protoreflect.ValueOfString(val))
		}
	}
	sv.Range = q.Get("range")
	if sv.Range == "" {
		sv.Range = "24h"
	}
	now := v.opts.Now().UTC()
	switch sv.Range {
	case "custom":
		for _, p := range []struct {
			name string
			dst  **timestamppb.Timestamp
		}{{"start", &f.StartEventTime}, {"end", &f.EndEventTime}} {
			s := strings.TrimSpace(q.Get(p.name))
			if s == "" {
				errs[p.name] = p.name + ": required for a custom range (RFC 3339, e.g. 2026-11-25T10:00:00Z)"
				continue
			}
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				errs[p.name] = p.name + ": not an RFC 3339 time (e.g. 2026-11-25T10:00:00Z)"
				continue
			}
			*p.dst = timestamppb.New(t)
		}
		sv.Start, sv.End = q.Get("start"), q.Get("end")
	default:
		d, ok := map[string]time.Duration{"15m": 15 * time.Minute, "1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}[sv.Range]
		if !ok {
			errs["range"] = "range: unknown preset " + strconv.Quote(sv.Range)
			break
		}
		// Page and export links freeze the window (a page token is bound
		// to the filter); the form leaves end empty, meaning now.
		end := now
		if e, err := time.Parse(time.RFC3339Nano, q.Get("end")); err == nil {
			end = e
		}
		f.StartEventTime, f.EndEventTime = timestamppb.New(end.Add(-d)), timestamppb.New(end)
		sv.End = end.Format(time.RFC3339Nano)
	}
	for _, p := range []struct {
		name string
		dst  *map[string]string
		list *[]string
	}{{"metadata", &f.MetadataExact, &sv.Metadata}, {"metadata_regex", &f.MetadataRegex, &sv.MetadataRe}} {
		for _, kv := range q[p.name] {
			if strings.TrimSpace(kv) == "" {
				continue
			}
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				errs[p.name] = p.name + ": " + strconv.Quote(kv) + " is not key=value"
				continue
			}
			if *p.dst == nil {
				*p.dst = map[string]string{}
			}
			(*p.dst)[k] = val
			*p.list = append(*p.list, kv)
		}
	}
	switch sv.ReadOnly = q.Get("read_only"); sv.ReadOnly {
	case "true", "false":
		b := sv.ReadOnly == "true"
		f.ReadOnly = &b
	case "":
	default:
		errs["read_only"] = "read_only: must be true, false or empty"
	}
	for _, p := range []struct {
		name string
		dst  *[]pb.EventType
		list *[]string
	}{{"include_types", &f.IncludeTypes, &sv.IncludeTypes}, {"exclude_types", &f.ExcludeTypes, &sv.ExcludeTypes}} {
		for _, t := range q[p.name] {
			val, ok := pb.EventType_value[t]
			if !ok {
				errs[p.name] = p.name + ": unknown type " + strconv.Quote(t)
				continue
			}
			*p.dst = append(*p.dst, pb.EventType(val))
			*p.list = append(*p.list, t)
		}
	}
	size := 50
	if s := q.Get("page_size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			errs["page_size"] = "page_size: must be 1 to 1000"
		}
		size = n
	}
	return &pb.SearchEventsRequest{Filter: f, PageSize: int32(size), PageToken: q.Get("page_token")}, errs
}

func (v *Viewer) search(w http.ResponseWriter, r *http.Request) {
	ctx, ok := callerContext(r)
	if !ok {
		v.needSignin(w, r)
		return
	}
	q := r.URL.Query()
	sv := &searchView{Q: q, Self: r.URL.RequestURI(), TextFields: textFields, Ranges: ranges, AllColumns: allColumns, Selected: map[string]bool{}}
	sv.Columns = slices.DeleteFunc(slices.Clone(q["cols"]), func(c string) bool { return !slices.Contains(allColumns, c) })
	if len(sv.Columns) == 0 {
		sv.Columns = defaultColumns
	}
	for _, c := range sv.Columns {
		sv.Selected[c] = true
	}
	req, errs := v.parseSearch(q, sv)
	sv.Errors = errs
	code := http.StatusOK
	if len(errs) == 0 {
		resp, err := v.api.SearchEvents(ctx, req)
		switch st := status.Convert(err); {
		case err == nil:
			sv.Events = resp.GetEvents()
			if resp.GetSearchedUntilTime() != nil {
				sv.SearchedTo = resp.GetSearchedUntilTime().AsTime().UTC().Format(formTime)
			}
			if tok := resp.GetNextPageToken(); tok != "" {
				older := url.Values{}
				for k, vs := range q {
					older[k] = vs
				}
				older.Set("page_token", tok)
				if sv.Range != "custom" {
					older.Set("end", sv.End)
				}
				sv.Older = "/?" + older.Encode()
			}
			export := url.Values{}
			for k, vs := range q {
				export[k] = vs
			}
			export.Del("page_token")
			export.Del("end")
			if sv.Range == "custom" {
				export.Set("end", sv.End)
			}
			sv.TailSrc = "/ui/tail?" + export.Encode()
			export.Set("end", sv.End)
			export.Set("format", "csv")
			sv.ExportCSV = "/ui/export?" + export.Encode()
			export.Set("format", "jsonl")
			sv.ExportJSONL = "/ui/export?" + export.Encode()
		case st.Code() == codes.Unauthenticated:
			v.needSignin(w, r)
			return
		case st.Code() == codes.InvalidArgument:
			code = http.StatusBadRequest
			field := fieldOf(st.Message())
			if field == "" {
				sv.Error = st.Message()
			} else {
				sv.Errors[field] = st.Message()
			}
		default:
			code = runtime.HTTPStatusFromCode(st.Code())
			sv.Error = st.Message()
		}
	} else {
		code = http.StatusBadRequest
	}
	v.render(w, code, "search.html", sv)
}

// fieldOf maps an API error message (`filter.action_regex: …`) to the
// form field it concerns.
func fieldOf(msg string) string {
	name, _, ok := strings.Cut(msg, ":")
	if !ok {
		return ""
	}
	name = strings.TrimPrefix(name, "filter.")
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	switch name {
	case "start_event_time":
		return "start"
	case "end_event_time":
		return "end"
	case "metadata_exact":
		return "metadata"
	case "page_token", "page_size", "metadata_regex", "read_only", "include_types", "exclude_types":
		return name
	}
	if slices.Contains(textFields, name) {
		return name
	}
	return ""
}

// detailView is the event page's data.
type detailView struct {
	Event *pb.Event
	Raw   string
	Error string
	Back  string // the results the detail was opened from
	Key   string // the log key the verification badge trusts
}

func (v *Viewer) detail(w http.ResponseWriter, r *http.Request) {
	ctx, ok := callerContext(r)
	if !ok {
		v.needSignin(w, r)
		return
	}
	back := safeNext(r.URL.Query().Get("back"))
	e, err := v.api.GetEvent(ctx, &pb.GetEventRequest{Name: "events/" + r.PathValue("id")})
	if err != nil {
		st := status.Convert(err)
		if st.Code() == codes.Unauthenticated {
			v.needSignin(w, r)
			return
		}
		code := runtime.HTTPStatusFromCode(st.Code())
		if st.Code() == codes.InvalidArgument {
			code = http.StatusNotFound // a malformed id names no event
		}
		v.render(w, code, "detail.html", detailView{Error: st.Message(), Back: back})
		return
	}
	// protojson varies its whitespace on purpose; re-indenting gives a
	// stable text to read and copy.
	b, _ := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(e)
	var raw bytes.Buffer
	if err := json.Indent(&raw, b, "", "  "); err != nil {
		raw.Reset()
		raw.Write(b)
	}
	v.render(w, http.StatusOK, "detail.html", detailView{Event: e, Raw: raw.String(), Back: back, Key: v.opts.VerifierKey})
}

// proof serves LogService.GetEventProof's JSON for the verification badge;
// errors are JSON {code, message} with the API's HTTP status, 503 meaning
// that no checkpoint covers the event yet.
func (v *Viewer) proof(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	ctx, ok := callerContext(r)
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code":16,"message":"sign in first"}`)
		return
	}
	p, err := v.api.GetEventProof(ctx, &pb.GetEventProofRequest{Name: "events/" + r.PathValue("id")})
	if err != nil {
		st := status.Convert(err)
		w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
		b, _ := json.Marshal(map[string]any{"code": st.Code(), "message": st.Message()})
		w.Write(b)
		return
	}
	b, _ := protojson.Marshal(p)
	w.Write(b)
}

// fieldValue is the text of a table column for an event.
func fieldValue(e *pb.Event, col string) string {
	switch col {
	case "event_time":
		return e.GetEventTime().AsTime().UTC().Format(time.RFC3339Nano)
	case "receive_time":
		return e.GetReceiveTime().AsTime().UTC().Format(time.RFC3339Nano)
	case "status":
		s := codes.Code(e.GetStatus().GetCode()).String()
		if m := e.GetStatus().GetMessage(); m != "" {
			s += ": " + m
		}
		return s
	case "read_only":
		return strconv.FormatBool(e.GetReadOnly())
	case "type":
		return e.GetType().String()
	}
	fd := e.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(col))
	if fd == nil {
		return ""
	}
	return e.ProtoReflect().Get(fd).String()
}
