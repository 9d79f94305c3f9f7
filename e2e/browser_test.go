package e2e

import (
	"context"
	"encoding/base64"
	encodingcsv "encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/audittrail/audittrail/internal/testnote"
	"github.com/audittrail/audittrail/internal/tlog"
)

// The browser suite drives Debian's Chromium (headless) against the real
// binary. It needs /usr/bin/chromium (apt-get install chromium) and axe-core
// from web/node_modules (npm ci --prefix web); without them it skips, and
// under CI=true it fails. AUDITTRAIL_SCREENSHOTS=DIR saves the screenshots
// that docs/ shows.

const chromiumPath = "/usr/bin/chromium"

var axePath = filepath.Join("..", "web", "node_modules", "axe-core", "axe.min.js")

// newChromium starts one headless browser for the test, or skips.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	var missing []string
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath+" (apt-get install chromium)")
	}
	if _, err := os.Stat(axePath); err != nil {
		missing = append(missing, axePath+" (npm ci --prefix web)")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need %s", strings.Join(missing, " and "))
		}
		testnote.Skip(t, "browser suite (e2e): needs "+strings.Join(missing, " and "))
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// The machine's network is closed: no background connections.
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// tab is one browser tab that records every console error, uncaught
// exception and error log entry of its pages.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
	allowed  []*regexp.Regexp
}

// newTab opens a tab; isolated gives it a browser context (cookies) of its
// own, as a second person's browser.
func newTab(t *testing.T, browserCtx context.Context, isolated bool) *tab {
	t.Helper()
	var opts []chromedp.ContextOption
	if isolated {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(browserCtx, opts...)
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				tb.mu.Lock()
				tb.problems = append(tb.problems, fmt.Sprintf("%s (%s)", m, m.URL))
				tb.mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	return tb
}

// allow marks console errors that the test causes on purpose (a stopped
// server, an answer it forged) as expected.
func (tb *tab) allow(pattern string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.allowed = append(tb.allowed, regexp.MustCompile(pattern))
}

// checkConsole fails the test on any console error seen so far that was not
// allowed, and forgets them.
func (tb *tab) checkConsole(t *testing.T) {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // let the last messages arrive
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, p := range tb.problems {
		if !slices.ContainsFunc(tb.allowed, func(re *regexp.Regexp) bool { return re.MatchString(p) }) {
			t.Errorf("browser console: %s", p)
		}
	}
	tb.problems, tb.allowed = nil, nil
}

// do runs actions with a timeout.
func (tb *tab) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval returns a script's value, decoded into T.
func eval[T any](t *testing.T, tb *tab, script string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval %s: %v", script, err)
	}
	return v
}

// waitFor evaluates a script every 100 ms until it is truthy. Errors
// count as not yet: the page may be between two documents.
func (tb *tab) waitFor(t *testing.T, what, script string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+script+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	page, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string]("location.href + '\\n' + (document.body ? document.body.innerText.slice(0, 1500) : '') + '\\n...verify: ' + Array.from(document.querySelectorAll('.verify'), v => v.innerText).join(' / ')"))
	t.Fatalf("waiting for %s (%s): timed out after %v (last error: %v)\npage: %s", what, script, timeout, last, page)
}

// axe runs the axe-core accessibility scan on the page as it is now and
// fails on any violation.
func (tb *tab) axe(t *testing.T, view string) {
	t.Helper()
	src, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	if !eval[bool](t, tb, "typeof window.axe === 'object'") {
		eval[chromedp.Void](t, tb, string(src))
	}
	res := eval[struct {
		Passes     int
		Violations []string
	}](t, tb, `axe.run(document).then(r => ({passes: r.passes.length, violations:
		r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))}))`)
	for _, v := range res.Violations {
		t.Errorf("axe, %s: %s", view, v)
	}
	if res.Passes == 0 {
		t.Errorf("axe, %s: no rule ran", view)
	}
	t.Logf("axe, %s: %d rules passed, %d violations", view, res.Passes, len(res.Violations))
}

// screenshot saves the viewport as DIR/name.png when AUDITTRAIL_SCREENSHOTS
// is set.
func (tb *tab) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("AUDITTRAIL_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rowNames are the event names of the result table's rows, in order.
func rowNames(t *testing.T, tb *tab) []string {
	t.Helper()
	return eval[[]string](t, tb, `Array.from(document.querySelectorAll('table.results tbody tr a'), a => new URL(a.href).pathname.replace('/ui/', ''))`)
}

// freeAddr is a loopback address nothing listens on, so that a server can
// be restarted on the same one.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestBrowser(t *testing.T) {
	outer := t // servers started in a subtest outlive it
	bctx := newChromium(t)
	iss := newIssuer(t)
	addr := freeAddr(t)
	// A log key whose base64 holds "+" (a separator of the key's text
	// form too), so that the page's key parsing is tested on one.
	var skey string
	for {
		sk, vk, err := tlog.GenerateKey("browser.test/audittrail")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(vk, "+") > 2 {
			skey = sk
			break
		}
	}
	keyFile := filepath.Join(t.TempDir(), "log.key")
	if err := os.WriteFile(keyFile, []byte(skey), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--addr", addr, "--viewer-oidc-client-id", "web-ui", "--signing-key", keyFile}
	s, policyPath := startAccessServer(t, iss, accessPolicy, args...)

	// 30 events: principals p0–p2, workspaces w1/w2, env prod/dev, one
	// every 10 s back from a minute ago.
	const action = "actions/browser/things/CREATE"
	type seeded struct{ name, principal, ws, env string }
	var events []seeded
	now := time.Now().UTC()
	for i := range 30 {
		e := seeded{principal: fmt.Sprintf("users/p%d", i%3), ws: fmt.Sprintf("w%d", 1+i%2), env: []string{"prod", "prod", "dev", "dev"}[i%4]}
		md := map[string]any{"env": e.env}
		ua := "e2e-browser/1.0"
		if i == 7 {
			ua = "=HYPERLINK(\"http://evil\")"
		}
		body := s.create(newID(), ev(map[string]any{
			"action": action, "principal": e.principal, "resource": fmt.Sprintf("//svc/workspaces/%s/things/%d", e.ws, i),
			"eventTime": now.Add(-time.Minute - time.Duration(i)*10*time.Second).Format(time.RFC3339Nano), "metadata": md,
			"requestParameters": map[string]any{"size": fmt.Sprint(i)}, "userAgent": ua,
		}))
		e.name = body["name"].(string)
		events = append(events, e)
	}
	names := func(keep func(seeded) bool) []string {
		var out []string
		for _, e := range events {
			if keep(e) {
				out = append(out, e.name)
			}
		}
		return out
	}
	base := s.url("/?range=1h&action_exact=" + url.QueryEscape(action))

	admin := newTab(t, bctx, false)
	// Clipboard access for the copy button, as a user who allows it.
	for _, p := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(admin.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: p}, Setting: cdpbrowser.PermissionSettingGranted, Origin: s.url(""),
		}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("sign in with a token", func(t *testing.T) {
		admin.do(t, "open", chromedp.Navigate(base))
		admin.waitFor(t, "the sign-in page", `location.pathname === '/ui/signin' && document.querySelector('#token')`, 10*time.Second)
		admin.axe(t, "sign-in page")
		admin.screenshot(t, "signin")
		admin.do(t, "sign in", chromedp.SendKeys(chromedp.CSS("#token"), s.token), chromedp.Click(chromedp.CSS("form.signin button[type=submit]")))
		admin.waitFor(t, "the results", `location.pathname === '/' && document.querySelectorAll('table.results tbody tr').length === 30`, 10*time.Second)
		admin.checkConsole(t)
	})

	t.Run("search with several filters and the URL round trip", func(t *testing.T) {
		admin.do(t, "fill the form",
			chromedp.SendKeys(chromedp.CSS("#f-principal_regex"), "^users/p[01]$"),
			chromedp.SendKeys(chromedp.CSS("#metadata"), "env=prod"),
			chromedp.Click(chromedp.CSS(`input[name=cols][value=workspace]`)),
			chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)))
		admin.waitFor(t, "the filtered results", `location.search.includes('principal_regex') && document.querySelector('th[data-col=workspace]')`, 10*time.Second)
		want := names(func(e seeded) bool { return e.principal != "users/p2" && e.env == "prod" })
		got := rowNames(t, admin)
		if !slices.Equal(got, want) {
			t.Fatalf("filtered rows %v, want %v", got, want)
		}
		admin.axe(t, "search results")
		admin.screenshot(t, "search")
		href := eval[string](t, admin, "location.href")
		admin.do(t, "leave", chromedp.Navigate("about:blank"))
		admin.do(t, "reopen the URL", chromedp.Navigate(href))
		admin.waitFor(t, "the same view", `document.querySelector('table.results')`, 10*time.Second)
		if got := rowNames(t, admin); !slices.Equal(got, want) {
			t.Fatalf("the URL reproduced rows %v, want %v", got, want)
		}
		form := eval[[]string](t, admin, `[document.querySelector('#f-principal_regex').value, document.querySelector('#metadata').value || document.querySelector('input[name=metadata]').value, String(document.querySelector('input[name=cols][value=workspace]').checked), document.querySelector('#range').value]`)
		if !slices.Equal(form, []string{"^users/p[01]$", "env=prod", "true", "1h"}) {
			t.Fatalf("the URL restored the form as %v", form)
		}
		admin.checkConsole(t)
	})

	t.Run("infinite scroll pages to the end", func(t *testing.T) {
		admin.do(t, "open", chromedp.Navigate(base+"&page_size=4"))
		admin.waitFor(t, "every page", `(window.scrollTo(0, document.body.scrollHeight), document.querySelector('p.older').textContent === 'No older events.')`, 30*time.Second)
		got := rowNames(t, admin)
		if want := names(func(seeded) bool { return true }); !slices.Equal(got, want) {
			t.Fatalf("%d rows after scrolling to the end, want the %d events newest first:\n%v\n%v", len(got), len(want), got, want)
		}
		if c := eval[string](t, admin, `document.querySelector('table.results caption .count').textContent`); c != "30" {
			t.Fatalf("caption count %q", c)
		}
		admin.checkConsole(t)
	})

	t.Run("keyboard: Enter opens a row, Esc closes; verified; copy", func(t *testing.T) {
		admin.do(t, "open", chromedp.Navigate(base))
		admin.waitFor(t, "results", `document.querySelectorAll('table.results tbody tr').length === 30`, 10*time.Second)
		eval[chromedp.Void](t, admin, `document.querySelector('table.results tbody tr').focus()`)
		admin.do(t, "down, enter", chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.Enter))
		admin.waitFor(t, "the detail dialog", `document.querySelector('dialog#detail[open] h1')`, 10*time.Second)
		if h := eval[string](t, admin, `document.querySelector('dialog#detail h1').textContent`); h != events[1].name {
			t.Fatalf("Enter on the second row opened %q, want %s", h, events[1].name)
		}
		admin.waitFor(t, "the verification", `document.querySelector('dialog#detail .badge').dataset.state === 'verified'`, 15*time.Second)
		checks := eval[string](t, admin, `document.querySelector('dialog#detail .checks').innerText`)
		for _, want := range []string{"checkpoint signature: Ed25519", "every shown field equals the stored event bytes", "inclusion proof", "log key: "} {
			if !strings.Contains(checks, want) {
				t.Fatalf("the badge's checks lack %q:\n%s", want, checks)
			}
		}
		meta := eval[string](t, admin, `document.querySelector('dialog#detail').innerText`)
		if !strings.Contains(meta, "env\tprod") && !strings.Contains(meta, "env\tdev") || !strings.Contains(meta, "size\t1") {
			t.Fatalf("metadata and request parameters tables missing:\n%s", meta)
		}
		admin.axe(t, "detail dialog")
		admin.screenshot(t, "detail")
		admin.do(t, "copy", chromedp.Click(chromedp.CSS("dialog#detail button.copy")))
		admin.waitFor(t, "copied", `document.querySelector('dialog#detail button.copy').textContent === 'Copied'`, 5*time.Second)
		clip := eval[string](t, admin, `navigator.clipboard.readText()`)
		raw := eval[string](t, admin, `document.querySelector('dialog#detail pre.raw').textContent`)
		if clip != raw || !strings.Contains(clip, events[1].name) {
			t.Fatalf("clipboard %q, want the raw JSON %q", clip, raw)
		}
		admin.do(t, "escape", chromedp.KeyEvent(kb.Escape))
		admin.waitFor(t, "the dialog closed and focus back on the row", `!document.querySelector('dialog#detail').open && document.activeElement === document.querySelectorAll('table.results tbody tr')[1]`, 5*time.Second)
		admin.checkConsole(t)
	})

	t.Run("detail page: pivots, Esc back to the results", func(t *testing.T) {
		href := eval[string](t, admin, `document.querySelectorAll('table.results tbody tr a')[3].href`)
		results := eval[string](t, admin, "location.href")
		admin.do(t, "open the detail page", chromedp.Navigate(href))
		admin.waitFor(t, "verified", `document.querySelector('.badge').dataset.state === 'verified'`, 15*time.Second)
		admin.axe(t, "detail page")
		pivot := eval[string](t, admin, `Array.from(document.querySelectorAll('table.fields a')).find(a => a.textContent === 'users/p0').href`)
		if u, _ := url.Parse(pivot); u.Query().Get("principal_exact") != "users/p0" {
			t.Fatalf("principal pivot %s", pivot)
		}
		admin.do(t, "escape", chromedp.KeyEvent(kb.Escape))
		admin.waitFor(t, "the results again", fmt.Sprintf(`location.href === %q && document.querySelector('table.results')`, results), 10*time.Second)
		admin.checkConsole(t)
	})

	t.Run("tampered proofs are not verified", func(t *testing.T) {
		var mode string // how the next proof answer is forged
		var mu sync.Mutex
		ictx, cancel := context.WithCancel(admin.ctx)
		defer cancel()
		paused := chromedp.Events(ictx, fetch.RequestPaused)
		go func() {
			for ev, err := range paused {
				if err != nil {
					return
				}
				body, err := chromedp.Call(ictx, fetch.GetResponseBody, fetch.GetResponseBodyParams{RequestID: ev.RequestID})
				if err != nil {
					return
				}
				var p map[string]any
				json.Unmarshal(body.Body, &p)
				code := int64(200)
				mu.Lock()
				switch mode {
				case "path":
					hashes := p["inclusion"].(map[string]any)["hashes"].([]any)
					h, _ := base64.StdEncoding.DecodeString(hashes[0].(string))
					h[0] ^= 1
					hashes[0] = base64.StdEncoding.EncodeToString(h)
				case "field":
					p["event"].(map[string]any)["principal"] = "users/someone-else"
				case "unavailable":
					code, p = 503, map[string]any{"code": 14, "message": "events/x: no checkpoint covers the event yet"}
				}
				mu.Unlock()
				forged, _ := json.Marshal(p)
				chromedp.Call(ictx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: code,
					ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}}, Body: forged})
			}
		}()
		if _, err := chromedp.Call(admin.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/proof", RequestStage: fetch.RequestStageResponse}}}); err != nil {
			t.Fatal(err)
		}
		defer chromedp.Call(admin.ctx, fetch.Disable, struct{}{})
		admin.allow(`status of 503`)
		for _, c := range []struct{ mode, state, why string }{
			{"path", "not-verified", "does not lead to the checkpoint's root hash"},
			{"field", "not-verified", "differs from the signed bytes in: principal"},
			{"unavailable", "pending", "no signed checkpoint covers this event yet"},
		} {
			mu.Lock()
			mode = c.mode
			mu.Unlock()
			admin.do(t, "open "+c.mode, chromedp.Navigate(s.url("/ui/"+events[2].name)))
			admin.waitFor(t, c.mode+": "+c.state, fmt.Sprintf(`document.querySelector('.badge').dataset.state === %q`, c.state), 15*time.Second)
			text := eval[string](t, admin, `document.querySelector('.verify').innerText`)
			if !strings.Contains(text, c.why) {
				t.Fatalf("%s: badge says\n%s\nwant %q", c.mode, text, c.why)
			}
			if c.mode == "path" {
				admin.screenshot(t, "not-verified")
			}
		}
		admin.checkConsole(t)
	})

	t.Run("bad regex shown at its field", func(t *testing.T) {
		admin.do(t, "open", chromedp.Navigate(s.url("/?range=1h")))
		admin.do(t, "bad regex", chromedp.SendKeys(chromedp.CSS("#f-principal_regex"), "(users"), chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)))
		admin.waitFor(t, "the message", `document.querySelector('#f-principal_regex').parentElement.querySelector('.field-error')`, 10*time.Second)
		msg := eval[string](t, admin, `document.querySelector('#f-principal_regex').parentElement.querySelector('.field-error').textContent`)
		if !strings.Contains(msg, "filter.principal_regex: invalid RE2 pattern") {
			t.Fatalf("message at principal_regex: %q", msg)
		}
		admin.axe(t, "search with an error")
		admin.allow(`status of 400`) // the page itself answers 400
		admin.checkConsole(t)
	})

	t.Run("export contents", func(t *testing.T) {
		admin.do(t, "open", chromedp.Navigate(base+"&principal_exact=users/p1&page_size=2"))
		admin.waitFor(t, "results", `document.querySelector('table.results')`, 10*time.Second)
		csv := eval[string](t, admin, `fetch(Array.from(document.querySelectorAll('a')).find(a => a.textContent === 'CSV').href).then(r => r.text())`)
		jsonl := eval[string](t, admin, `fetch(Array.from(document.querySelectorAll('a')).find(a => a.textContent === 'JSONL').href).then(r => r.text())`)
		want := names(func(e seeded) bool { return e.principal == "users/p1" })
		records, err := encodingcsv.NewReader(strings.NewReader(csv)).ReadAll()
		if err != nil || len(records) != len(want)+1 || records[0][0] != "name" {
			t.Fatalf("CSV has %d records (%v), want a header and %d events (the page showed 2):\n%s", len(records), err, len(want), csv)
		}
		ua := slices.Index(records[0], "user_agent")
		for i, n := range want {
			if r := records[i+1]; r[0] != n || (n == events[7].name) != strings.HasPrefix(r[ua], "'=HYPERLINK") {
				t.Fatalf("CSV record %d: %q, want %s with a guarded formula only in %s", i+1, r, n, events[7].name)
			}
		}
		jl := strings.Split(strings.TrimSpace(jsonl), "\n")
		if len(jl) != len(want) {
			t.Fatalf("JSONL has %d lines, want %d", len(jl), len(want))
		}
		for i, line := range jl {
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil || e["name"] != want[i] || e["principal"] != "users/p1" {
				t.Fatalf("JSONL line %d: %s", i, line)
			}
		}
		admin.checkConsole(t)
	})

	t.Run("live tail: new events, pause on scroll, disconnect and reconnect", func(t *testing.T) {
		const tailAction = "actions/browser/tail/CREATE"
		admin.do(t, "open", chromedp.Navigate(s.url("/?range=1h&action_exact="+url.QueryEscape(tailAction))))
		admin.do(t, "start the tail", chromedp.Click(chromedp.CSS(".tail-toggle")))
		admin.waitFor(t, "live", `document.querySelector('.tail').dataset.state === 'live'`, 10*time.Second)
		rows := func(n int) string {
			return fmt.Sprintf(`document.querySelectorAll('table.results tbody tr').length === %d`, n)
		}
		first := s.create(newID(), ev(map[string]any{"action": tailAction, "principal": "users/tail-1"}))["name"].(string)
		admin.waitFor(t, "the first tailed event", rows(1), 10*time.Second)
		if got := rowNames(t, admin); got[0] != first {
			t.Fatalf("tailed row %v, want %s", got, first)
		}
		admin.waitFor(t, "the announcement", `document.querySelector('#announcer').textContent.includes('new event')`, 5*time.Second)
		admin.axe(t, "live tail")

		// Scrolled away: new events wait behind an "N new" button.
		eval[chromedp.Void](t, admin, `document.body.style.paddingBottom = '3000px'; window.scrollTo(0, window.scrollY + document.querySelector('table.results tbody').getBoundingClientRect().top + 500)`)
		second := s.create(newID(), ev(map[string]any{"action": tailAction, "principal": "users/tail-2"}))["name"].(string)
		admin.waitFor(t, "the N new button", `!document.querySelector('.tail-new').hidden && document.querySelector('.tail-new').textContent.startsWith('1 new')`, 10*time.Second)
		if n := eval[int](t, admin, `document.querySelectorAll('table.results tbody tr').length`); n != 1 {
			t.Fatalf("%d rows while paused, want 1", n)
		}
		admin.do(t, "show the new", chromedp.Click(chromedp.CSS(".tail-new")))
		admin.waitFor(t, "the held event shown", rows(2)+` && document.querySelector('table.results tbody').getBoundingClientRect().top >= 0`, 5*time.Second)
		if got := rowNames(t, admin); got[0] != second {
			t.Fatalf("rows %v, want %s first", got, second)
		}
		eval[chromedp.Void](t, admin, `window.scrollTo(0, 0)`)
		admin.screenshot(t, "tail")

		// The server goes away: a visible disconnected state, then the tail
		// reconnects by itself and resumes without a gap.
		admin.allow(`/ui/tail`)
		admin.allow(`ERR_CONNECTION_REFUSED`)
		if err := s.stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		admin.waitFor(t, "disconnected", `document.querySelector('.tail').dataset.state === 'disconnected' && document.querySelector('.tail-state').textContent.startsWith('Disconnected')`, 10*time.Second)
		if top := eval[float64](t, admin, `document.querySelector('.tail').getBoundingClientRect().top`); top < 0 {
			t.Fatalf("the tail's state is out of sight (top %v) while the page is scrolled", top)
		}
		eval[chromedp.Void](t, admin, `document.body.style.paddingBottom = ''; window.scrollTo(0, 0)`)
		admin.screenshot(t, "tail-disconnected")
		s2 := startServer(outer, s.data, append([]string{"--oidc-issuer", iss.url(), "--oidc-audience", "audittrail", "--policy", policyPath}, args...)...)
		third := s2.create(newID(), ev(map[string]any{"action": tailAction, "principal": "users/tail-3"}))["name"].(string)
		admin.waitFor(t, "reconnected with the event created meanwhile", rows(3)+` && document.querySelector('.tail').dataset.state === 'live'`, 40*time.Second)
		if got := rowNames(t, admin); got[0] != third {
			t.Fatalf("rows %v, want %s first", got, third)
		}
		fourth := s2.create(newID(), ev(map[string]any{"action": tailAction, "principal": "users/tail-4"}))["name"].(string)
		admin.waitFor(t, "the next event", rows(4), 10*time.Second)
		if got := rowNames(t, admin); got[0] != fourth || !slices.Equal(got, []string{fourth, third, second, first}) {
			t.Fatalf("rows %v", got)
		}
		admin.do(t, "stop the tail", chromedp.Click(chromedp.CSS(".tail-toggle")))
		admin.waitFor(t, "off", `document.querySelector('.tail').dataset.state === 'off'`, 5*time.Second)
		admin.checkConsole(t)
		s = s2
	})

	t.Run("scoped reader signs in with OIDC (PKCE) and sees its workspace only", func(t *testing.T) {
		iss.mu.Lock()
		iss.loginAs = "alice"
		iss.mu.Unlock()
		alice := newTab(t, bctx, true)
		alice.do(t, "open", chromedp.Navigate(base+"&cols=workspace&cols=principal"))
		alice.waitFor(t, "the sign-in page", `document.querySelector('a.button')`, 10*time.Second)
		alice.do(t, "sign in with OIDC", chromedp.Click(chromedp.CSS("a.button")))
		alice.waitFor(t, "the results", `location.pathname === '/' && document.querySelector('table.results')`, 15*time.Second)
		iss.mu.Lock()
		exchanges := iss.exchanges
		iss.mu.Unlock()
		if exchanges != 1 {
			t.Fatalf("%d PKCE code exchanges, want 1", exchanges)
		}
		if !strings.Contains(eval[string](t, alice, "location.search"), "cols=workspace") {
			t.Fatalf("sign-in lost the view: %s", eval[string](t, alice, "location.href"))
		}
		alice.waitFor(t, "every page", `(window.scrollTo(0, document.body.scrollHeight), document.querySelector('p.older').textContent === 'No older events.')`, 20*time.Second)
		want := names(func(e seeded) bool { return e.ws == "w1" })
		if got := rowNames(t, alice); !slices.Equal(got, want) {
			t.Fatalf("alice sees %v, want the %d events of w1 %v", got, len(want), want)
		}
		if ws := eval[[]string](t, alice, `[...new Set(Array.from(document.querySelectorAll('table.results tbody tr td:first-child'), td => td.textContent))]`); !slices.Equal(ws, []string{"workspaces/w1"}) {
			t.Fatalf("workspace column shows %v", ws)
		}
		alice.allow(`status of 403`)
		alice.do(t, "ask for w2", chromedp.Navigate(base+"&workspace_exact=workspaces/w2"))
		msg := eval[string](t, alice, `document.querySelector('.field-error').textContent`)
		if !strings.Contains(msg, "workspace") {
			t.Fatalf("alice asking for w2: %q", msg)
		}
		alice.do(t, "open a w2 event", chromedp.Navigate(s.url("/ui/"+events[1].name)))
		if msg := eval[string](t, alice, `document.querySelector('.field-error').textContent`); !strings.Contains(msg, "not found") {
			t.Fatalf("alice opening a w2 event: %q", msg)
		}
		alice.allow(`status of 404`)
		alice.checkConsole(t)
	})
}
