// Package e2e holds end-to-end tests: they build the real audittrail binary,
// start it on a temporary data directory and a free port, and talk REST and
// gRPC to it. `go test -short` skips them.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

var binaryPath string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "audittrail-e2e")
	if err != nil {
		panic(err)
	}
	binaryPath = filepath.Join(dir, "audittrail")
	out, err := exec.Command("go", "build", "-o", binaryPath, "../cmd/audittrail").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running audittrail process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	data string
	addr string
	// publicAddr is the read-only listener's address, when started with
	// --public-addr.
	publicAddr string
	token      string
	exit       chan error
	log        *bytes.Buffer
}

// startServer runs `audittrail serve` on data (a new temp dir when empty)
// and a free port, and waits until it is healthy.
func startServer(t *testing.T, data string, args ...string) *server {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	cmd := exec.Command(binaryPath, append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+data) // keep the local-server registry per test
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, data: data, exit: make(chan error, 1), log: &bytes.Buffer{}}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.log.WriteString(line + "\n")
			if a, ok := cutScheme(line, "audittrail: serving read-only gRPC and REST on "); ok {
				s.publicAddr = a // printed before the main address
			}
			if a, ok := cutScheme(line, "audittrail: serving gRPC and REST on "); ok {
				addrc <- a
			}
		}
		s.exit <- cmd.Wait()
	}()
	select {
	case s.addr = <-addrc:
	case err := <-s.exit:
		t.Fatalf("server exited before listening: %v\n%s", err, s.log)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("server did not start\n%s", s.log)
	}
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	s.token = strings.TrimSpace(string(tok))
	t.Cleanup(func() { s.kill() })
	return s
}

// cutScheme returns the address after prefix and an http:// or https://
// scheme.
func cutScheme(line, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		return "", false
	}
	if a, ok := strings.CutPrefix(rest, "https://"); ok {
		return a, true
	}
	return strings.CutPrefix(rest, "http://")
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// kill sends SIGKILL and waits for the process.
func (s *server) kill() {
	if s.cmd.ProcessState == nil {
		s.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-s.exit:
		case <-time.After(10 * time.Second):
		}
	}
}

// stop sends SIGTERM and returns the exit error.
func (s *server) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exit:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("no exit 30s after SIGTERM")
	}
}

// rest sends a JSON request with the admin token (unless token is given as
// "" via restAs) and decodes the JSON answer.
func (s *server) rest(method, path string, body any) (int, map[string]any) {
	return s.restAs(s.token, method, path, body)
}

func (s *server) restAs(token, method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.url(path), r)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		s.t.Fatalf("%s %s: HTTP %d, body is not a JSON object: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// grpcClient returns an EventService client and a context carrying the admin
// token.
func (s *server) grpcClient() (pb.EventServiceClient, context.Context) {
	conn, ctx := s.grpcConn()
	return pb.NewEventServiceClient(conn), ctx
}

// grpcConn returns a connection to s and a context carrying the admin token.
func (s *server) grpcConn() (*grpc.ClientConn, context.Context) {
	s.t.Helper()
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { conn.Close() })
	return conn, metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+s.token)
}

// cli runs the binary as a client of s and returns stdout, stderr and the
// exit code.
func (s *server) cli(stdin string, args ...string) (string, string, int) {
	s.t.Helper()
	cmd := exec.Command(binaryPath, args...)
	cmd.Env = append(os.Environ(), "HOME="+s.data)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// runBinary runs the binary to completion and returns its combined output.
func runBinary(args ...string) (string, error) {
	out, err := exec.Command(binaryPath, args...).CombinedOutput()
	return string(out), err
}

// ev returns a valid REST event body; overrides replace fields.
func ev(overrides map[string]any) map[string]any {
	e := map[string]any{
		"eventTime":       time.Now().UTC().Add(-time.Minute).Format(time.RFC3339Nano),
		"eventSource":     "e2e-source",
		"action":          "actions/e2e/things/CREATE",
		"status":          map[string]any{"code": 0},
		"principal":       "users/e2e",
		"sourceIpAddress": "8.8.8.8",
	}
	for k, v := range overrides {
		if v == nil {
			delete(e, k)
		} else {
			e[k] = v
		}
	}
	return e
}

func newID() string { return uuid.NewString() }

// create stores one event over REST and fails the test unless it is
// stored; it returns the stored event, unwrapped from the
// CreateEventResponse {"event": …} that must be the whole answer.
func (s *server) create(id string, e map[string]any) map[string]any {
	s.t.Helper()
	code, body := s.rest("POST", "/v1/events?event_id="+id, e)
	if code != 200 {
		s.t.Fatalf("create %s: HTTP %d %v", id, code, body)
	}
	stored, ok := body["event"].(map[string]any)
	if !ok || len(body) != 1 {
		s.t.Fatalf("create %s: answer %v is not {\"event\": …}", id, body)
	}
	return stored
}

// searchAll pages through a REST search and returns the event names.
func (s *server) searchAll(filter map[string]any, pageSize int) []string {
	s.t.Helper()
	var names []string
	tok := ""
	for range 10000 {
		code, body := s.rest("POST", "/v1/events:search", map[string]any{"filter": filter, "pageSize": pageSize, "pageToken": tok})
		if code != 200 {
			s.t.Fatalf("search %v: HTTP %d %v", filter, code, body)
		}
		for _, e := range body["events"].([]any) {
			names = append(names, e.(map[string]any)["name"].(string))
		}
		tok = body["nextPageToken"].(string)
		if tok == "" {
			return names
		}
	}
	s.t.Fatal("search never ended")
	return nil
}
