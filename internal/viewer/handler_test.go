package viewer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// fakeAPI answers every call with err, and records the tail's start.
type fakeAPI struct {
	err      error
	tailFrom int64
}

func (f *fakeAPI) SearchEvents(context.Context, *pb.SearchEventsRequest) (*pb.SearchEventsResponse, error) {
	return &pb.SearchEventsResponse{}, f.err
}
func (f *fakeAPI) GetEvent(context.Context, *pb.GetEventRequest) (*pb.Event, error) {
	return nil, f.err
}
func (f *fakeAPI) GetEventProof(context.Context, *pb.GetEventProofRequest) (*pb.EventProof, error) {
	return &pb.EventProof{Seq: 7}, f.err
}
func (f *fakeAPI) Principal(context.Context) (string, error) { return "services/x", f.err }
func (f *fakeAPI) Tail(ctx context.Context, _ *pb.Filter, from int64, _ func(*pb.Event, int64) error) error {
	f.tailFrom = from
	return status.Error(codes.PermissionDenied, "no")
}

var _ EventAPI = (*fakeAPI)(nil)

func newTestViewer(t *testing.T, api EventAPI, oidc *OIDCLogin) http.Handler {
	t.Helper()
	opts := DefaultOptions()
	opts.OIDC = oidc
	v, err := New(api, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v.Handler()
}

func get(h http.Handler, path string, header http.Header, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var session = &http.Cookie{Name: sessionCookie, Value: "tok"}

func TestProofEndpoint(t *testing.T) {
	for _, c := range []struct {
		name   string
		err    error
		cookie bool
		code   int
		body   string
	}{
		{"signed out", nil, false, 401, `"code":16`},
		{"ok", nil, true, 200, `"seq":"7"`},
		{"no checkpoint yet", status.Error(codes.Unavailable, "events/x: waiting"), true, 503, `"message":"events/x: waiting"`},
		{"invisible", status.Error(codes.NotFound, "event events/x not found"), true, 404, `"code":5`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var cookies []*http.Cookie
			if c.cookie {
				cookies = append(cookies, session)
			}
			w := get(newTestViewer(t, &fakeAPI{err: c.err}, nil), "/ui/events/x/proof", nil, cookies...)
			if w.Code != c.code || !strings.Contains(w.Body.String(), c.body) || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("HTTP %d %s %q, want %d with %s", w.Code, w.Header().Get("Content-Type"), w.Body, c.code, c.body)
			}
		})
	}
}

func TestTailResumePosition(t *testing.T) {
	for _, c := range []struct {
		name   string
		header http.Header
		query  string
		code   int
		from   int64
	}{
		{"from now", nil, "", 200, -1},
		{"Last-Event-ID", http.Header{"Last-Event-Id": {"42"}}, "", 200, 42},
		{"from=", nil, "&from=9", 200, 9},
		{"header wins", http.Header{"Last-Event-Id": {"42"}}, "&from=9", 200, 42},
		{"bad header", http.Header{"Last-Event-Id": {"events/x"}}, "", 400, -2},
		{"negative", nil, "&from=-1", 400, -2},
	} {
		t.Run(c.name, func(t *testing.T) {
			api := &fakeAPI{tailFrom: -2}
			w := get(newTestViewer(t, api, nil), "/ui/tail?range=1h"+c.query, c.header, session)
			if w.Code != c.code || api.tailFrom != c.from {
				t.Fatalf("HTTP %d, tail from %d; want %d from %d\n%s", w.Code, api.tailFrom, c.code, c.from, w.Body)
			}
			if c.code == 200 && !strings.Contains(w.Body.String(), "event: stopped\ndata: no\n") {
				t.Fatalf("the tail's error is not reported as a stopped event:\n%s", w.Body)
			}
		})
	}
}

func TestOIDCLoginValidate(t *testing.T) {
	for _, c := range []struct {
		cfg OIDCLogin
		ok  bool
	}{
		{OIDCLogin{Issuer: "https://idp", ClientID: "web"}, true},
		{OIDCLogin{Issuer: "https://idp", ClientID: "web", BaseURL: "https://audit.example:8443"}, true},
		{OIDCLogin{Issuer: "https://idp"}, false},
		{OIDCLogin{ClientID: "web"}, false},
		{OIDCLogin{Issuer: "https://idp", ClientID: "web", BaseURL: "audit.example"}, false},
		{OIDCLogin{Issuer: "https://idp", ClientID: "web", BaseURL: "https://audit.example/viewer"}, false},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: Validate() = %v, want ok=%v", c.cfg, err, c.ok)
		}
	}
}

// The callback refuses what did not start in this browser before it talks
// to the issuer at all.
func TestOIDCCallbackRefusals(t *testing.T) {
	h := newTestViewer(t, &fakeAPI{}, &OIDCLogin{Issuer: "http://127.0.0.1:1", ClientID: "web"})
	flow := &http.Cookie{Name: oidcCookie, Value: "s1~verifier~Lz9yYW5nZT0xaA"} // next = /?range=1h
	for _, c := range []struct {
		name, query string
		cookie      *http.Cookie
		code        int
		msg         string
	}{
		{"no flow cookie", "?code=c&state=s1", nil, 400, "state: does not match"},
		{"other state", "?code=c&state=s2", flow, 400, "state: does not match"},
		{"issuer error", "?error=access_denied&error_description=no+way&state=s1", flow, 401, "the issuer answered access_denied: no way"},
		{"issuer down", "?code=c&state=s1", flow, 502, "the issuer cannot be reached"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var cookies []*http.Cookie
			if c.cookie != nil {
				cookies = append(cookies, c.cookie)
			}
			w := get(h, "/ui/oidc/callback"+c.query, nil, cookies...)
			if w.Code != c.code || !strings.Contains(w.Body.String(), c.msg) {
				t.Fatalf("HTTP %d, want %d with %q:\n%s", w.Code, c.code, c.msg, w.Body)
			}
			if strings.Contains(w.Header().Get("Set-Cookie"), sessionCookie) {
				t.Fatal("a session was started")
			}
		})
	}
}

func post(h http.Handler, path, form string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestSigninHardening: login CSRF, cross-site sign-out, unverified tokens
// and open redirects are refused; cookies are Secure unless PlainHTTP.
func TestSigninHardening(t *testing.T) {
	good := newTestViewer(t, &fakeAPI{}, nil)
	bad := newTestViewer(t, &fakeAPI{err: status.Error(codes.Unauthenticated, "missing or invalid bearer token")}, nil)
	form := "token=tok&next=%2F%3Frange%3D1h"
	for _, c := range []struct {
		name      string
		h         http.Handler
		path      string
		form      string
		header    http.Header
		code      int
		cookie    bool   // a session cookie is set
		location  string // when code is 303
		bodyMatch string
	}{
		{"same origin", good, "/ui/signin", form, http.Header{"Sec-Fetch-Site": {"same-origin"}}, 303, true, "/?range=1h", ""},
		{"no browser headers (curl)", good, "/ui/signin", form, nil, 303, true, "/?range=1h", ""},
		{"cross-site form", good, "/ui/signin", form, http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403, false, "", "cross-origin"},
		{"same-site other origin", good, "/ui/signin", form, http.Header{"Sec-Fetch-Site": {"same-site"}}, 403, false, "", "cross-origin"},
		{"foreign Origin", good, "/ui/signin", form, http.Header{"Origin": {"https://evil.example"}}, 403, false, "", "cross-origin"},
		{"own Origin", good, "/ui/signin", form, http.Header{"Origin": {"http://example.com"}}, 303, true, "/?range=1h", ""},
		{"wrong token", bad, "/ui/signin", form, nil, 401, false, "", "token: missing or invalid bearer token"},
		{"open redirect with a tab", good, "/ui/signin", "token=tok&next=%2F%09%2Fevil.example", nil, 303, true, "/", ""},
		{"cross-site sign-out", good, "/ui/signout", "", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403, false, "", "cross-origin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := post(c.h, c.path, c.form, c.header)
			if w.Code != c.code {
				t.Fatalf("HTTP %d %s, want %d", w.Code, w.Body, c.code)
			}
			var cookie *http.Cookie
			for _, ck := range w.Result().Cookies() {
				if ck.Name == sessionCookie && ck.Value != "" {
					cookie = ck
				}
			}
			if (cookie != nil) != c.cookie {
				t.Fatalf("session cookie %v, want one: %v", cookie, c.cookie)
			}
			if cookie != nil && (!cookie.Secure || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode) {
				t.Errorf("cookie %+v: want Secure, HttpOnly, SameSite=Strict", cookie)
			}
			if loc := w.Header().Get("Location"); c.code == 303 && loc != c.location {
				t.Errorf("Location %q, want %q", loc, c.location)
			}
			if !strings.Contains(w.Body.String(), c.bodyMatch) {
				t.Errorf("body %q lacks %q", w.Body, c.bodyMatch)
			}
		})
	}
	t.Run("plain HTTP", func(t *testing.T) {
		opts := DefaultOptions()
		opts.PlainHTTP = true
		v, err := New(&fakeAPI{}, opts)
		if err != nil {
			t.Fatal(err)
		}
		w := post(v.Handler(), "/ui/signin", form, nil)
		if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].Secure {
			t.Errorf("cookies %v: want one, not Secure", cs)
		}
	})
}

func TestStaticHasNoDirectoryListing(t *testing.T) {
	h := newTestViewer(t, &fakeAPI{}, nil)
	if w := get(h, "/ui/static/", nil); w.Code != 404 {
		t.Errorf("/ui/static/: HTTP %d %q, want 404", w.Code, w.Body)
	}
	if w := get(h, "/ui/static/app.css", nil); w.Code != 200 {
		t.Errorf("/ui/static/app.css: HTTP %d", w.Code)
	}
}
