package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/testnote"
)

// The fault suite (SPEC §5): malformed input, the time range edges, slow
// and idle connections, overload, the viewer's sign-in, and disk full.

// rawCodec sends the bytes it is given, unchecked, so tests can put
// malformed protobuf on the wire.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

func TestFaultMalformedInput(t *testing.T) {
	s := startServer(t, "")
	conn, ctx := s.grpcConn()
	good, err := proto.Marshal(&pb.CreateEventRequest{EventId: newID(), Event: &pb.Event{
		EventTime: timestamppb.Now(), EventSource: "s", Action: "a", Status: &pb.Status{}, Principal: "users/MARK", SourceIpAddress: "8.8.8.8",
	}})
	if err != nil {
		t.Fatal(err)
	}
	badUTF8 := []byte(strings.Replace(string(good), "MARK", "\xff\xfe\xfd\xfc", 1))
	for _, tc := range []struct {
		name   string
		method string
		msg    []byte
		want   string
	}{
		{"invalid UTF-8", pb.EventService_CreateEvent_FullMethodName, badUTF8, "event.principal: must be valid UTF-8"},
		{"truncated", pb.EventService_CreateEvent_FullMethodName, good[:len(good)-4], "event: malformed protobuf"},
		{"garbage", pb.EventService_SearchEvents_FullMethodName, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "malformed protobuf"},
	} {
		t.Run("gRPC "+tc.name, func(t *testing.T) {
			var out pb.CreateEventResponse
			err := conn.Invoke(ctx, tc.method, tc.msg, &out, grpc.ForceCodecV2(rawCodec{}))
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Errorf("got %v; want INVALID_ARGUMENT naming %q", err, tc.want)
			}
		})
	}
	t.Run("gRPC malformed calls are counted", func(t *testing.T) {
		resp, err := http.Get(s.url("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `audittrail_requests_total{code="InvalidArgument",rpc="CreateEvent"} 2`) {
			t.Errorf("metrics lack the two malformed CreateEvent calls")
		}
	})
	for _, tc := range []struct{ name, path, body, want string }{
		{"REST wrong type", "/v1/events?event_id=" + newID(), `{"eventTime":123}`, "eventTime: must be an RFC 3339 timestamp string"},
		{"REST map value", "/v1/events?event_id=" + newID(), `{"metadata":{"a":1}}`, "metadata.a: must be a string"},
		{"REST trailing comma", "/v1/events:search", `{"pageSize":1,}`, "request body: is not valid JSON"},
		{"REST trailing garbage", "/v1/events:search", `{} {}`, "request body: must hold one JSON value"},
		{"REST unknown query parameter", "/v1/events/" + newID() + "?verbose=1", "", `query parameter "verbose": unknown`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if tc.body == "" {
				method = "GET"
			}
			code, body := s.rest(method, tc.path, tc.body)
			if code != 400 || !strings.Contains(fmt.Sprint(body["message"]), tc.want) {
				t.Errorf("HTTP %d %v; want 400 naming %q", code, body, tc.want)
			}
		})
	}
}

func TestFaultTimeRangeEdges(t *testing.T) {
	s := startServer(t, "")
	id := newID()
	s.create(id, ev(map[string]any{"eventSource": "edges", "eventTime": "1970-01-01T00:00:00Z"}))
	s.create(newID(), ev(map[string]any{"eventSource": "edges"}))
	c, ctx := s.grpcClient()
	for _, tc := range []struct {
		name       string
		start, end string
		want       int
	}{
		{"1969 to now", "1969-12-31T00:00:00Z", "", 2},
		{"year 1 to 9999", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", 2},
		{"before 1970 only", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", 0},
		{"past 2262", "2263-01-01T00:00:00Z", "9999-12-31T23:59:59Z", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			filter := map[string]any{"eventSourceExact": "edges", "startEventTime": tc.start}
			f := &pb.Filter{EventSourceExact: new("edges"), StartEventTime: ts(t, tc.start)}
			if tc.end != "" {
				filter["endEventTime"], f.EndEventTime = tc.end, ts(t, tc.end)
			}
			if got := len(s.searchAll(filter, 1)); got != tc.want {
				t.Errorf("REST: %d events, want %d", got, tc.want)
			}
			resp, err := c.SearchEvents(ctx, &pb.SearchEventsRequest{Filter: f})
			if err != nil || len(resp.Events) != tc.want || !resp.SearchedUntilTime.AsTime().Equal(f.StartEventTime.AsTime()) {
				t.Errorf("gRPC: %v, %v; want %d events searched until %v", resp, err, tc.want, tc.start)
			}
		})
	}
}

func ts(t *testing.T, s string) *timestamppb.Timestamp {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return timestamppb.New(v)
}

// closedWithin reports whether the server closes c within d (reads see EOF
// or a reset).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			ne, ok := err.(net.Error)
			return !ok || !ne.Timeout()
		}
	}
}

func TestFaultSlowAndIdleConnections(t *testing.T) {
	s := startServer(t, "", "--idle-timeout", "1s", "--read-header-timeout", "1s", "--read-timeout", "2s", "--max-connections", "16")
	defer unstructuredLines(t, s)
	dial := func(t *testing.T) net.Conn {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	t.Run("idle keep-alive connection closed", func(t *testing.T) {
		c := dial(t)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		start := time.Now()
		if !closedWithin(c, 5*time.Second) {
			t.Fatal("idle connection still open after 5s (--idle-timeout 1s)")
		}
		t.Logf("idle connection closed after %v", time.Since(start).Round(10*time.Millisecond))
	})
	t.Run("idle HTTP/2 (gRPC) connection closed", func(t *testing.T) {
		conn, ctx := s.grpcConn()
		if _, err := pb.NewEventServiceClient(conn).SearchEvents(ctx, &pb.SearchEventsRequest{}); err != nil {
			t.Fatal(err)
		}
		if st := conn.GetState(); st != connectivity.Ready {
			t.Fatalf("state %v after a call", st)
		}
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for conn.GetState() == connectivity.Ready && conn.WaitForStateChange(wctx, connectivity.Ready) {
		}
		if st := conn.GetState(); st == connectivity.Ready {
			t.Fatal("HTTP/2 connection still open 5s into --idle-timeout 1s")
		}
	})
	t.Run("silent connection closed", func(t *testing.T) {
		if !closedWithin(dial(t), 5*time.Second) {
			t.Fatal("a connection that sends nothing is still open after 5s")
		}
	})
	t.Run("slow body closed", func(t *testing.T) {
		c := dial(t)
		fmt.Fprintf(c, "POST /v1/events:search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{", s.token)
		start := time.Now()
		done := make(chan bool)
		go func() { done <- closedWithin(c, 6*time.Second) }()
		for range 20 { // a byte every 200 ms: never finishes in time
			if _, err := c.Write([]byte(" ")); err != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !<-done {
			t.Fatal("slow body still being read after 6s (--read-timeout 2s)")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("closed after %v", d)
		}
	})
	t.Run("connection limit answers 503", func(t *testing.T) {
		var held []net.Conn
		for range 16 {
			held = append(held, dial(t))
		}
		time.Sleep(100 * time.Millisecond)
		c := dial(t)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("connection past the limit: %v %v; want 503 with Retry-After", resp, err)
		}
		for _, h := range held {
			h.Close()
		}
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if resp, err := http.Get(s.url("/healthz")); err == nil && resp.StatusCode == 200 {
				resp.Body.Close()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("not served again once the held connections closed")
	})
}

// peakRSS is the process's high-water resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// unstructuredLines fails the test when the server wrote log lines that
// are not JSON (grpc-go's "ERROR: …" style), after its startup banner.
func unstructuredLines(t *testing.T, s *server) {
	t.Helper()
	for _, line := range strings.Split(s.log.String(), "\n") {
		if line == "" || strings.HasPrefix(line, "audittrail: ") || strings.HasPrefix(line, "{") {
			continue
		}
		t.Errorf("unstructured log line: %q", line)
	}
}

func TestFaultOverload(t *testing.T) {
	s := startServer(t, "", "--max-inflight-bytes", "32MiB", "--max-concurrent-writes", "2")
	defer unstructuredLines(t, s)
	t.Run("unauthenticated body is not read", func(t *testing.T) {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Headers announce 4 MB that never come: the 401 must not wait.
		fmt.Fprintf(c, "POST /v1/events:batchCreate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Length: 4000000\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 401 {
			t.Fatalf("%v %v; want 401 before the body", resp, err)
		}
	})
	t.Run("large batches are bounded", func(t *testing.T) {
		// ~15 MB batches: 1000 events with 15 KB of metadata each.
		meta := map[string]any{}
		for i := range 3 {
			meta[fmt.Sprintf("k%d", i)] = strings.Repeat("v", 4000) + strconv.Itoa(i)
		}
		var reqs []map[string]any
		for range 1000 {
			reqs = append(reqs, map[string]any{"eventId": newID(), "event": ev(map[string]any{"metadata": meta})})
		}
		body, err := json.Marshal(map[string]any{"requests": reqs})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		codes := map[int]int{}
		retryAfter := 0
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("POST", s.url("/v1/events:batchCreate"), strings.NewReader(string(body)))
				req.Header.Set("Authorization", "Bearer "+s.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				if resp.Header.Get("Retry-After") != "" {
					retryAfter++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		rss := peakRSS(t, s.cmd.Process.Pid)
		t.Logf("16 × %.1f MB batches: answers %v, peak RSS %d MiB", float64(len(body))/1e6, codes, rss>>20)
		if codes[200] == 0 || codes[429] == 0 || retryAfter != codes[429] {
			t.Errorf("answers %v (%d with Retry-After): want some stored and the excess 429 with Retry-After", codes, retryAfter)
		}
		if codes[200]+codes[429] != 16 {
			t.Errorf("answers %v: only 200 and 429 expected", codes)
		}
		// 32 MiB of bodies in flight decode to well under 1 GiB.
		if rss > 1<<30 {
			t.Errorf("peak RSS %d MiB, want under 1024 MiB", rss>>20)
		}
	})
}

func TestFaultViewerSignin(t *testing.T) {
	s := startServer(t, "")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signin := func(form url.Values, header http.Header) *http.Response {
		req, _ := http.NewRequest("POST", s.url("/ui/signin"), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct {
		name     string
		form     url.Values
		header   http.Header
		code     int
		location string
		session  bool
	}{
		{"redirect target with a tab", url.Values{"token": {s.token}, "next": {"/\t/evil.example"}}, nil, 303, "/", true},
		{"redirect target elsewhere", url.Values{"token": {s.token}, "next": {"https://evil.example/"}}, nil, 303, "/", true},
		{"login CSRF from another site", url.Values{"token": {s.token}}, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}, 403, "", false},
		{"foreign Origin", url.Values{"token": {s.token}}, http.Header{"Origin": {"https://evil.example"}}, 403, "", false},
		{"wrong token", url.Values{"token": {"not-a-token"}}, nil, 401, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := signin(tc.form, tc.header)
			session := false
			for _, c := range resp.Cookies() {
				if c.Name == "audittrail_session" && c.Value != "" {
					session = true
					if !c.Secure || !c.HttpOnly {
						t.Errorf("session cookie %+v: want Secure and HttpOnly", c)
					}
				}
			}
			if resp.StatusCode != tc.code || session != tc.session || (tc.code == 303 && resp.Header.Get("Location") != tc.location) {
				t.Errorf("HTTP %d to %q, session %v; want %d to %q, session %v", resp.StatusCode, resp.Header.Get("Location"), session, tc.code, tc.location, tc.session)
			}
		})
	}
	t.Run("cross-site sign-out", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.url("/ui/signout"), nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("HTTP %d, want 403", resp.StatusCode)
		}
	})
	t.Run("no static directory listing", func(t *testing.T) {
		resp, err := http.Get(s.url("/ui/static/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("HTTP %d, want 404", resp.StatusCode)
		}
	})
}

func TestFaultMetricsListeners(t *testing.T) {
	metricsAddr := freeAddr(t)
	s := startServer(t, "", "--public-addr", "127.0.0.1:0", "--metrics-addr", metricsAddr)
	for _, tc := range []struct {
		url  string
		code int
	}{
		{"http://" + s.publicAddr + "/metrics", 404},
		{"http://" + metricsAddr + "/metrics", 200},
		{s.url("/metrics"), 200},
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s: HTTP %d, want %d", tc.url, resp.StatusCode, tc.code)
		}
	}
}

// TestFaultDiskFull fills a small tmpfs under a running server: creates get
// 503 naming the cause, /readyz says so, reads go on (each still
// recorded), nothing crashes, and writes resume by themselves once space
// is freed; every acknowledged event is found afterwards.
func TestFaultDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		testnote.Skip(t, "disk-full test (e2e): needs root to mount a tmpfs (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("disk-full test: cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	s := startServer(t, dir, "--disk-reserve", "24MiB")
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, free-56<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	meta := map[string]any{"pad": strings.Repeat("x", 2000)}
	batch := func() (int, map[string]any, []string) {
		var reqs []map[string]any
		var names []string
		for range 200 {
			id := newID()
			names = append(names, "events/"+id)
			reqs = append(reqs, map[string]any{"eventId": id, "event": ev(map[string]any{"eventSource": "diskfull", "metadata": meta})})
		}
		code, body := s.rest("POST", "/v1/events:batchCreate", map[string]any{"requests": reqs})
		return code, body, names
	}
	var acked []string
	var full map[string]any
	for i := 0; i < 2000 && full == nil; i++ {
		code, body, names := batch()
		switch code {
		case 200:
			acked = append(acked, names...)
		case 503:
			full = body
		default:
			t.Fatalf("batch %d: HTTP %d %v", i, code, body)
		}
	}
	if full == nil || !strings.Contains(fmt.Sprint(full["message"]), "disk full") || full["code"] != float64(14) {
		t.Fatalf("no 503 naming the full disk: last answer %v after %d acked events", full, len(acked))
	}
	t.Logf("disk full after %d acknowledged events: %v", len(acked), full["message"])
	resp, err := http.Get(s.url("/readyz"))
	if err != nil {
		t.Fatal(err)
	}
	ready, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(ready), "disk full") {
		t.Errorf("/readyz: HTTP %d %q; want 503 naming the full disk", resp.StatusCode, ready)
	}
	if out, err := exec.Command(binaryPath, "health", "--server", "http://"+s.addr).CombinedOutput(); err == nil || !strings.Contains(string(out), "disk full") {
		t.Errorf("audittrail health while the disk is full: %v %s; want exit 1 naming the cause", err, out)
	}
	hconn, _ := s.grpcConn()
	if resp, err := healthpb.NewHealthClient(hconn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("gRPC health while the disk is full: %v %v; want NOT_SERVING", resp, err)
	}
	if code, body := s.rest("POST", "/v1/events:search", map[string]any{"filter": map[string]any{"eventSourceExact": "diskfull"}, "pageSize": 5}); code != 200 {
		t.Errorf("search while the disk is full: HTTP %d %v", code, body)
	}
	if code, _ := s.rest("GET", "/v1/"+acked[0], nil); code != 200 {
		t.Errorf("get while the disk is full: HTTP %d", code)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	recovered := false
	for time.Since(freed) < 20*time.Second {
		code, body, names := batch()
		if code == 200 {
			acked = append(acked, names...)
			recovered = true
			break
		}
		if code != 503 {
			t.Fatalf("after freeing space: HTTP %d %v", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !recovered {
		t.Fatal("writes did not resume within 20s of freeing space")
	}
	t.Logf("writes resumed %v after space was freed", time.Since(freed).Round(time.Millisecond))
	if s.cmd.ProcessState != nil {
		t.Fatal("the server exited")
	}
	found := map[string]bool{}
	for _, n := range s.searchAll(map[string]any{"eventSourceExact": "diskfull"}, 1000) {
		found[n] = true
	}
	for _, n := range acked {
		if !found[n] {
			t.Fatalf("acknowledged %s not found", n)
		}
	}
	if resp, err := http.Get(s.url("/readyz")); err != nil || resp.StatusCode != 200 {
		t.Errorf("/readyz after recovery: %v %v", resp, err)
	}
	if out, err := exec.Command(binaryPath, "health", "--server", "http://"+s.addr).CombinedOutput(); err != nil || !strings.Contains(string(out), "ready") {
		t.Errorf("audittrail health after recovery: %v %s", err, out)
	}

	// A start on a completely full disk says why and exits, instead of
	// spinning in the store's WAL replay with no listener.
	s.kill()
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ballast, make([]byte, int64(st.Bavail)*int64(st.Bsize)), 0o600); err != nil && !strings.Contains(err.Error(), "no space") {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := exec.Command(binaryPath, "serve", "--data", dir, "--addr", "127.0.0.1:0", "--disk-reserve", "24MiB").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "disk full") || time.Since(start) > 10*time.Second {
		t.Fatalf("start on a full disk: %v after %v: %s; want a prompt exit naming the full disk", err, time.Since(start), out)
	}
	os.Remove(ballast)
	s2 := startServer(t, dir, "--disk-reserve", "24MiB")
	found = map[string]bool{}
	for _, n := range s2.searchAll(map[string]any{"eventSourceExact": "diskfull"}, 1000) {
		found[n] = true
	}
	for _, n := range acked {
		if !found[n] {
			t.Fatalf("after the restart, acknowledged %s not found", n)
		}
	}
}

// TestFaultTimeoutsSpareStreams: live tails outlast the read, write and
// idle timeouts that cut off ordinary slow clients.
func TestFaultTimeoutsSpareStreams(t *testing.T) {
	s := startServer(t, "", "--read-timeout", "1s", "--write-timeout", "1s", "--idle-timeout", "1s")
	c, ctx := s.grpcClient()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.TailEvents(ctx, &pb.TailEventsRequest{Filter: &pb.Filter{ActionExact: new("actions/stream/CREATE")}})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, s)
	b.signin(s.token)
	sse := b.tailStream("/ui/tail?action_exact=actions/stream/CREATE")
	time.Sleep(3 * time.Second) // three times every timeout
	if resp, err := http.Get(s.url("/metrics")); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "\naudittrail_tails_open 2\n") {
			t.Error("audittrail_tails_open is not 2 with two tails open")
		}
	}
	name := s.create(newID(), ev(map[string]any{"action": "actions/stream/CREATE"}))["name"].(string)
	if got := recvNames(t, stream, 1); got[0].GetEvent().GetName() != name {
		t.Errorf("gRPC tail got %v, want %s", got[0].GetEvent().GetName(), name)
	}
	select {
	case got := <-sse:
		if got != name {
			t.Errorf("/ui/tail got %q, want %s", got, name)
		}
	case <-time.After(5 * time.Second):
		t.Error("/ui/tail: nothing 3s past the timeouts")
	}
}
