package e2e

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// browser is a cookie-keeping HTTP client that does not follow redirects
// on its own, so tests see them.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, s *server) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: s.url(""), c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, http.Header, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func (b *browser) signin(token string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+"/ui/signin", url.Values{"token": {token}, "next": {"/"}})
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		b.t.Fatalf("sign in: HTTP %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

var (
	detailLink = regexp.MustCompile(`href="/ui/(events/[0-9a-f-]+)[?"]`)
	olderLink  = regexp.MustCompile(`<a rel="next" href="([^"]+)"`)
)

// pageNames follows "Older events" links from path to the end and returns
// the event names listed.
func (b *browser) pageNames(path string) []string {
	b.t.Helper()
	var names []string
	for range 1000 {
		code, _, body := b.get(path)
		if code != 200 {
			b.t.Fatalf("GET %s: HTTP %d\n%s", path, code, body)
		}
		for _, m := range detailLink.FindAllStringSubmatch(body, -1) {
			names = append(names, m[1])
		}
		m := olderLink.FindStringSubmatch(body)
		if m == nil {
			return names
		}
		path = html.UnescapeString(m[1])
	}
	b.t.Fatal("paging does not end")
	return nil
}

func TestViewerWithoutJavaScript(t *testing.T) {
	iss := newIssuer(t)
	s, _ := startAccessServer(t, iss, accessPolicy)
	var w1 []string
	for i := range 9 {
		ws := []string{"w1", "w2", "w3"}[i%3]
		body := s.create(newID(), ev(map[string]any{"resource": "//svc/workspaces/" + ws + "/x", "action": "actions/viewer/CREATE", "metadata": map[string]any{"n": ws}}))
		if ws == "w1" {
			w1 = append(w1, body["name"].(string))
		}
	}
	b := newBrowser(t, s)
	code, h, _ := b.get("/")
	if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/ui/signin") {
		t.Fatalf("signed out: HTTP %d to %q, want a redirect to sign in", code, h.Get("Location"))
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	b.signin(s.token)

	t.Run("filters and paging to the end", func(t *testing.T) {
		names := b.pageNames("/?range=1h&action_exact=actions/viewer/CREATE&page_size=2")
		if len(names) != 9 {
			t.Fatalf("%d events over all pages, want 9", len(names))
		}
		names = b.pageNames("/?range=1h&action_regex=viewer&metadata=n%3Dw2&page_size=1")
		if len(names) != 3 {
			t.Fatalf("metadata and regex filters: %d events, want 3", len(names))
		}
	})
	t.Run("bad regex shown next to its field", func(t *testing.T) {
		code, _, body := b.get("/?range=1h&principal_regex=%28")
		if code != http.StatusBadRequest || !strings.Contains(body, `<input id="f-principal_regex" name="principal_regex" value="(">`) ||
			!strings.Contains(body, "filter.principal_regex: invalid RE2 pattern") {
			t.Fatalf("HTTP %d\n%s", code, body)
		}
		code, _, body = b.get("/?range=custom&start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z")
		if code != http.StatusBadRequest || !strings.Contains(body, "must not be after end_event_time") {
			t.Fatalf("start after end: HTTP %d", code)
		}
	})
	t.Run("detail and pivots", func(t *testing.T) {
		code, _, body := b.get("/ui/" + w1[0])
		if code != 200 || !strings.Contains(body, "workspace_exact=workspaces%2fw1") || !strings.Contains(body, `&#34;workspace&#34;: &#34;workspaces/w1&#34;`) {
			t.Fatalf("detail: HTTP %d\n%s", code, body)
		}
	})
	t.Run("scoped reader sees its workspace only", func(t *testing.T) {
		alice := newBrowser(t, s)
		alice.signin(iss.sign("rsa-1", iss.claims("alice")))
		names := alice.pageNames("/?range=1h&action_exact=actions/viewer/CREATE")
		if len(names) != 3 {
			t.Fatalf("alice sees %d events, want the 3 of w1", len(names))
		}
		for _, n := range names {
			if !strings.Contains(strings.Join(w1, " "), n) {
				t.Fatalf("alice sees %s outside w1", n)
			}
		}
		if code, _, _ := alice.get("/?range=1h&workspace_exact=workspaces/w2"); code != http.StatusForbidden {
			t.Fatalf("alice asking for w2: HTTP %d, want 403", code)
		}
	})
}

func TestViewerExport(t *testing.T) {
	s := startServer(t, "")
	for i := range 25 {
		s.create(newID(), ev(map[string]any{"action": "actions/export/CREATE", "resource": fmt.Sprintf("=HYPERLINK(\"http://evil\")/%d", i),
			"metadata": map[string]any{"k": "v"}}))
	}
	b := newBrowser(t, s)
	b.signin(s.token)
	_, _, page := b.get("/?range=1h&action_exact=actions/export/CREATE&page_size=5")
	m := regexp.MustCompile(`href="(/ui/export\?[^"]+)">CSV`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSV link\n%s", page)
	}
	code, h, body := b.get(html.UnescapeString(m[1]))
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV: HTTP %d %s", code, h.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 26 {
		t.Fatalf("CSV has %d rows, want a header and all 25 events (not the 5 of the page)", len(rows))
	}
	res := slices.Index(rows[0], "resource")
	for _, r := range rows[1:] {
		if !strings.HasPrefix(r[res], "'=HYPERLINK") {
			t.Fatalf("formula not neutralised: %q", r[res])
		}
	}
	code, _, body = b.get(strings.Replace(html.UnescapeString(m[1]), "format=csv", "format=jsonl", 1))
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if code != 200 || len(lines) != 25 {
		t.Fatalf("JSONL: HTTP %d, %d lines", code, len(lines))
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || e["action"] != "actions/export/CREATE" || !strings.HasPrefix(e["resource"].(string), "=HYPERLINK") {
		t.Fatalf("JSONL line: %v %v", e, err)
	}
}

// tailStream opens /ui/tail and delivers the names of streamed events.
func (b *browser) tailStream(path string) <-chan string {
	b.t.Helper()
	names := make(chan string, 100)
	events := b.tailFrom(b.t.Context(), path, "")
	go func() {
		defer close(names)
		for e := range events {
			names <- e.name
		}
	}()
	return names
}

// tailed is one streamed event: its name and the stream position after it.
type tailed struct{ name, id string }

// tailFrom opens /ui/tail, resuming at lastEventID when it is not empty,
// as EventSource does when it reconnects.
func (b *browser) tailFrom(ctx context.Context, path, lastEventID string) <-chan tailed {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+path, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b.t.Fatalf("tail: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan tailed, 100)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		id := ""
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				id = v
			}
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var e map[string]any
				if json.Unmarshal([]byte(data), &e) == nil {
					out <- tailed{fmt.Sprint(e["name"]), id}
				}
			}
		}
	}()
	return out
}

// A tail that reconnects with Last-Event-ID gets what it missed meanwhile.
func TestViewerTailResumes(t *testing.T) {
	s := startServer(t, "")
	b := newBrowser(t, s)
	b.signin(s.token)
	const path = "/ui/tail?range=1h&action_exact=actions/resume/CREATE"
	ctx, cancel := context.WithCancel(t.Context())
	req := b.tailFrom(ctx, path, "")
	time.Sleep(300 * time.Millisecond)
	first := s.create(newID(), ev(map[string]any{"action": "actions/resume/CREATE"}))["name"]
	var got tailed
	select {
	case got = <-req:
	case <-time.After(5 * time.Second):
		t.Fatal("first event not streamed")
	}
	if got.name != first || got.id == "" {
		t.Fatalf("streamed %+v, want %s with a position", got, first)
	}
	cancel() // the connection drops
	var missed []any
	for range 3 {
		missed = append(missed, s.create(newID(), ev(map[string]any{"action": "actions/resume/CREATE"}))["name"])
		s.create(newID(), ev(map[string]any{"action": "actions/other/CREATE"}))
	}
	resumed := b.tailFrom(t.Context(), path, got.id)
	for _, n := range missed {
		select {
		case e := <-resumed:
			if e.name != n {
				t.Fatalf("resumed with %s, want %s", e.name, n)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s, created while disconnected, not streamed after resuming", n)
		}
	}
}

func TestViewerLiveTail(t *testing.T) {
	iss := newIssuer(t)
	s, _ := startAccessServer(t, iss, accessPolicy)
	admin := newBrowser(t, s)
	admin.signin(s.token)
	alice := newBrowser(t, s)
	alice.signin(iss.sign("rsa-1", iss.claims("alice")))
	all := admin.tailStream("/ui/tail?range=1h&action_exact=actions/tail/CREATE")
	mine := alice.tailStream("/ui/tail?range=1h")
	time.Sleep(300 * time.Millisecond)
	w1 := s.create(newID(), ev(map[string]any{"action": "actions/tail/CREATE", "resource": "//svc/workspaces/w1/a"}))["name"]
	w2 := s.create(newID(), ev(map[string]any{"action": "actions/tail/CREATE", "resource": "//svc/workspaces/w2/a"}))["name"]
	s.create(newID(), ev(map[string]any{"action": "actions/other/CREATE"}))
	want := func(ch <-chan string, names ...any) {
		t.Helper()
		for _, n := range names {
			select {
			case got := <-ch:
				if got != n {
					t.Fatalf("streamed %s, want %s", got, n)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s not streamed within 5 s", n)
			}
		}
	}
	want(all, w1, w2)
	want(mine, w1)
	select {
	case extra := <-mine:
		t.Fatalf("alice's tail streamed %s outside w1", extra)
	case <-time.After(2 * time.Second):
	}
	// A draining server ends open tails instead of waiting for them.
	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatalf("SIGTERM with open tails: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("shutdown took %v with open tails", d)
	}
}
