package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audittrail/audittrail/internal/store/postgres/pgtest"
	"github.com/audittrail/audittrail/internal/testnote"
)

// batchBody is a BatchCreateEvents body of n new events and their ids.
func batchBody(n int, tag string) (map[string]any, []string) {
	var reqs []any
	var ids []string
	for range n {
		id := newID()
		ids = append(ids, id)
		reqs = append(reqs, map[string]any{"eventId": id, "event": ev(map[string]any{"action": "actions/e2e/" + tag + "/CREATE"})})
	}
	return map[string]any{"requests": reqs}, ids
}

// listLog pages through ListLogEntries and returns the seqs in order.
func listLog(t *testing.T, s *server) []int {
	t.Helper()
	var seqs []int
	for {
		code, body := s.rest("GET", fmt.Sprintf("/v1/log/entries?start_seq=%d&page_size=1000", len(seqs)), nil)
		if code != 200 {
			t.Fatalf("log entries: HTTP %d %v", code, body)
		}
		entries, _ := body["entries"].([]any)
		if len(entries) == 0 {
			return seqs
		}
		for _, e := range entries {
			var seq int
			fmt.Sscan(fmt.Sprint(e.(map[string]any)["seq"]), &seq)
			seqs = append(seqs, seq)
		}
	}
}

func checkDense(t *testing.T, seqs []int) {
	t.Helper()
	for i, s := range seqs {
		if s != i {
			t.Fatalf("log entry %d has seq %d: the sequence has a gap or a repeat", i, s)
		}
	}
}

// verifyArchive exports the log through s and verifies it offline.
func verifyArchive(t *testing.T, s *server) {
	t.Helper()
	dir := exportArchive(t, s)
	out, errOut, code := s.cli("", "verify", "archive", dir, "--key", logKey(t, s))
	if code != 0 {
		t.Fatalf("verify archive: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestPostgresReplicas(t *testing.T) {
	url := pgtest.NewDatabase(t)
	var replicas []*server
	for range 3 {
		replicas = append(replicas, startServer(t, "", "--store", url))
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for i, r := range replicas {
		for c := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range 15 {
					body, ids := batchBody(200, fmt.Sprintf("r%dc%db%d", i, c, b))
					code, resp := r.rest("POST", "/v1/events:batchCreate", body)
					if code != 200 || len(resp["events"].([]any)) != len(ids) {
						t.Errorf("replica %d batch: HTTP %d failed %v", i, code, resp["failedRequests"])
						return
					}
					mu.Lock()
					for _, id := range ids {
						acked[id] = true
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if len(acked) != 3*2*15*200 {
		t.Fatalf("%d events acknowledged, want %d", len(acked), 3*2*15*200)
	}

	// Every acknowledged event is present once, through every replica.
	filter := map[string]any{"eventSourceExact": "e2e-source"}
	var pages [][]string
	for i, r := range replicas {
		names := r.searchAll(filter, 1000)
		seen := map[string]bool{}
		for _, n := range names {
			id := strings.TrimPrefix(n, "events/")
			if seen[id] || !acked[id] {
				t.Fatalf("replica %d: %s returned twice or never acknowledged", i, n)
			}
			seen[id] = true
		}
		if len(seen) != len(acked) {
			t.Fatalf("replica %d returns %d events, want %d", i, len(seen), len(acked))
		}
		pages = append(pages, names)
	}
	for i := 1; i < len(pages); i++ {
		if !slices.Equal(pages[0], pages[i]) {
			t.Fatalf("replica %d orders results differently from replica 0", i)
		}
	}

	// A page token minted by one replica works on another and continues
	// the same sequence.
	code, first := replicas[0].rest("POST", "/v1/events:search", map[string]any{"filter": filter, "pageSize": 100})
	if code != 200 {
		t.Fatalf("first page: %d", code)
	}
	for i, r := range replicas[1:] {
		code, next := r.rest("POST", "/v1/events:search", map[string]any{"filter": filter, "pageSize": 100, "pageToken": first["nextPageToken"]})
		if code != 200 {
			t.Fatalf("replica %d rejects replica 0's page token: HTTP %d %v", i+1, code, next)
		}
		if got := next["events"].([]any)[0].(map[string]any)["name"]; got != pages[0][100] {
			t.Fatalf("replica %d continued at %v, want %s", i+1, got, pages[0][100])
		}
	}

	// Dense sequence, one tree, one signer at a time.
	seqs := listLog(t, replicas[1])
	checkDense(t, seqs)
	if len(seqs) < len(acked) {
		t.Fatalf("%d log entries for %d events", len(seqs), len(acked))
	}
	time.Sleep(1500 * time.Millisecond)
	verifyArchive(t, replicas[2])
	signers := 0
	for _, r := range replicas {
		if strings.Contains(r.log.String(), "this replica now signs checkpoints") {
			signers++
		}
	}
	if signers != 1 {
		t.Fatalf("%d replicas signed checkpoints, want exactly 1", signers)
	}
	// Each replica's checkpoint is the same log.
	var cps []string
	for _, r := range replicas {
		_, cp := r.rest("GET", "/v1/log/checkpoint", nil)
		cps = append(cps, fmt.Sprint(cp["origin"], cp["verifierKey"]))
	}
	if cps[0] != cps[1] || cps[1] != cps[2] {
		t.Fatalf("replicas disagree on the log: %v", cps)
	}

	// The lease moves when the signer goes away.
	for i, r := range replicas {
		if strings.Contains(r.log.String(), "this replica now signs checkpoints") {
			r.kill()
			other := replicas[(i+1)%3]
			size := len(listLog(t, other))
			body, _ := batchBody(10, "after-failover")
			if code, _ := other.rest("POST", "/v1/events:batchCreate", body); code != 200 {
				t.Fatal("batch after the signer died")
			}
			deadline := time.Now().Add(15 * time.Second)
			for {
				_, cp := other.rest("GET", "/v1/log/checkpoint", nil)
				var n int
				fmt.Sscan(fmt.Sprint(cp["treeSize"]), &n)
				if n >= size+10 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no replica signed after the signer died: tree size %d", n)
				}
				time.Sleep(200 * time.Millisecond)
			}
			break
		}
	}
}

// privatePostgres runs a PostgreSQL server of its own for a test that
// restarts it, so the shared server other tests use is left alone.
type privatePostgres struct {
	t       *testing.T
	bin     string
	dir     string
	port    int
	asUser  []string // runuser prefix when running as root
	logFile string
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL server binaries not found (apt-get install postgresql)")
		}
		testnote.Skip(t, "PostgreSQL restart test (e2e): needs the server binaries (apt-get install postgresql)")
	}
	pgtest.ServerURL(t) // same opt-in as the other PostgreSQL tests
	p := &privatePostgres{t: t, bin: filepath.Dir(bins[len(bins)-1]), dir: filepath.Join(t.TempDir(), "pg")}
	if os.Geteuid() == 0 {
		p.asUser = []string{"runuser", "-u", "postgres", "--"}
		os.MkdirAll(filepath.Dir(p.dir), 0o777)
		os.Chmod(filepath.Dir(p.dir), 0o777)
		exec.Command("chmod", "o+rx", filepath.Dir(filepath.Dir(p.dir))).Run()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	p.logFile = filepath.Join(filepath.Dir(p.dir), "pg.log")
	p.run(filepath.Join(p.bin, "initdb"), "-D", p.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	p.ctl("start")
	t.Cleanup(func() { p.ctl("stop", "-m", "immediate") })
	return p
}

func (p *privatePostgres) run(args ...string) {
	p.t.Helper()
	args = append(slices.Clone(p.asUser), args...)
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		p.t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// ctl runs pg_ctl; start and restart wait until the server accepts
// connections.
func (p *privatePostgres) ctl(action string, extra ...string) {
	p.t.Helper()
	args := []string{filepath.Join(p.bin, "pg_ctl"), action, "-D", p.dir, "-w", "-l", p.logFile,
		"-o", fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s", p.port, filepath.Dir(p.dir))}
	p.run(append(args, extra...)...)
}

func (p *privatePostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", p.port)
}

func TestPostgresRestartLosesNothing(t *testing.T) {
	pg := startPrivatePostgres(t)
	s := startServer(t, "", "--store", pg.url())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	acked := map[string]bool{}
	unavailable := 0
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; ctx.Err() == nil; b++ {
				body, ids := batchBody(100, fmt.Sprintf("c%db%d", c, b))
				code, resp := s.rest("POST", "/v1/events:batchCreate", body)
				mu.Lock()
				switch code {
				case 200:
					for _, id := range ids {
						acked[id] = true
					}
					if n := len(resp["events"].([]any)); n != len(ids) {
						t.Errorf("batch stored %d of %d", n, len(ids))
					}
				case http.StatusServiceUnavailable:
					unavailable++
				default:
					t.Errorf("batch: HTTP %d %v", code, resp)
				}
				mu.Unlock()
				if code != 200 {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	pg.ctl("stop", "-m", "fast")
	time.Sleep(500 * time.Millisecond)
	resp, err := http.Get(s.url("/readyz"))
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the database is down: %v %v, want 503", resp.StatusCode, err)
	}
	time.Sleep(1500 * time.Millisecond)
	pg.ctl("start")
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.url("/readyz"))
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover after the database came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if unavailable == 0 {
		t.Fatal("no batch was answered 503 while the database was down")
	}
	if len(acked) <= before {
		t.Fatal("no batch succeeded after the database came back: the server did not recover by itself")
	}
	found := map[string]bool{}
	for _, n := range s.searchAll(map[string]any{"eventSourceExact": "e2e-source"}, 1000) {
		found[strings.TrimPrefix(n, "events/")] = true
	}
	for id := range acked {
		if !found[id] {
			t.Fatalf("acknowledged event %s lost across the database restart", id)
		}
	}
	checkDense(t, listLog(t, s))
	time.Sleep(1500 * time.Millisecond)
	verifyArchive(t, s)
	t.Logf("%d events acknowledged, %d batches answered 503 during the restart", len(acked), unavailable)
}
