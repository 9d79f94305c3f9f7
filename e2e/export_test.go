package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/audittrail/audittrail/internal/export"
	"github.com/audittrail/audittrail/internal/export/s3test"
	"github.com/audittrail/audittrail/internal/testnote"
)

// The archive and Parquet sinks run against a real S3 server through a
// start with S3 down, a kill -9 of our server while it ingests and
// uploads, and a graceful stop: afterwards every event is in exactly one
// archive object, the verifier passes on the bucket and on a downloaded
// copy, Object Lock refuses deletion, and DuckDB reads the Parquet files.
func TestS3SinksThroughFaults(t *testing.T) {
	gw := s3test.New(t)
	gw.Start()
	gw.CreateBucket("audit", true)
	gw.CreateBucket("lake", false)
	gw.Stop() // S3 is down when the server starts

	data := t.TempDir()
	cfg := filepath.Join(data, "audittrail.yaml")
	os.WriteFile(filepath.Join(data, "s3.secret"), []byte(s3test.SecretKey+"\n"), 0o600)
	writeFile(t, data, "audittrail.yaml", []byte(fmt.Sprintf(`sinks:
  - name: archive
    type: s3-archive
    prefix: prod
    digest_interval: 2s
    flush: {max_events: 500, max_age: 300ms}
    s3:
      bucket: audit
      endpoint: %[1]s
      path_style: true
      access_key_id: %[2]s
      secret_access_key_file: %[3]s
      object_lock: {mode: COMPLIANCE, retain: 1d}
  - name: lake
    type: parquet
    prefix: events
    flush: {max_events: 2000, max_age: 300ms}
    filter: {event_sources: ["durability", "sinks*"]}
    s3:
      bucket: lake
      endpoint: %[1]s
      path_style: true
      access_key_id_env: TEST_S3_ACCESS
      secret_access_key_env: TEST_S3_SECRET
`, gw.URL(), s3test.AccessKey, filepath.Join(data, "s3.secret"))))
	t.Setenv("TEST_S3_ACCESS", s3test.AccessKey)
	t.Setenv("TEST_S3_SECRET", s3test.SecretKey)

	s := startServer(t, data, "--config", cfg)
	key := logKey(t, s)
	// With S3 down, ingest goes on, the server stays ready, and the
	// sinks say why they are behind.
	createBatch(t, s, 50, "actions/sinks/BEFORE_S3")
	resp, err := http.Get(s.url("/readyz"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/readyz with S3 down: %v %v", resp, err)
	}
	resp.Body.Close()
	for i := 0; ; i++ {
		out, errOut, _ := s.cli("", "sink", "status", "--server="+s.url(""))
		out += errOut
		if strings.Contains(out, "connection refused") && strings.Contains(out, "s3-archive") {
			break
		}
		if i > 100 {
			t.Fatalf("sink status with S3 down names no failure:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	gw.Start()

	// Ingest hard, then kill -9 mid-upload.
	stop := make(chan struct{})
	acked := ingest(t, s, 2, 200, stop)
	time.Sleep(2500 * time.Millisecond)
	s.kill()
	close(stop)
	n1 := len(acked())
	if n1 == 0 {
		t.Fatal("nothing acknowledged before the kill")
	}

	s = startServer(t, data, "--config", cfg)
	createBatch(t, s, 30, "actions/sinks/AFTER_RESTART")
	size := waitSinksCaughtUp(t, s)
	out, errOut, code := s.cli("", "sink", "status", "--server="+s.url(""))
	if code != 0 || !strings.Contains(out, "archive") || !strings.Contains(out, "lake") || !strings.Contains(out, "here") {
		t.Fatalf("sink status: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("sink status:\n%s", out)
	searched := s.searchAll(map[string]any{"eventSourceExact": "durability"}, 1000)
	if err := s.stop(); err != nil { // graceful: the final digest
		t.Fatalf("stop: %v\n%s", err, s.log)
	}

	// The bucket, through the CLI.
	vout, verr := runVerify(t, "verify", "archive", "--s3", "s3://audit/prod", "--s3-endpoint", gw.URL(), "--s3-path-style", "--key", key)
	if verr != nil {
		t.Fatalf("verify archive --s3: %v\n%s", verr, vout)
	}
	// The searches and the shutdown add self-audit events after size.
	var digests, objects, total, under int
	fmt.Sscanf(vout[strings.LastIndex(strings.TrimSpace(vout), "\n")+1:], "%d digests, %d objects, %d events (%d under", &digests, &objects, &total, &under)
	if total < size || under != total || !strings.Contains(vout, "0 under digest signatures only), 0 undigested objects, 0 problems") {
		t.Fatalf("verify archive: want at least %d events, all under checkpoints:\n%s", size, vout)
	}
	t.Logf("verify archive --s3: %s", strings.TrimSpace(vout))
	archive := s3Bucket(t, gw, "audit")
	base := "prod/" + export.LogID(logOrigin(t, key))
	countEachOnce(t, archive, base, total)

	// A downloaded copy, moved elsewhere, verifies the same; tampering with it is named.
	copyDir := filepath.Join(t.TempDir(), "copy")
	download(t, archive, "prod/", copyDir)
	if out, err := runVerify(t, "verify", "archive", copyDir, "--key", key); err != nil {
		t.Fatalf("verify the downloaded copy: %v\n%s", err, out)
	}
	keys, _ := archive.List(context.Background(), base+"/events/")
	victim := filepath.Join(copyDir, strings.TrimPrefix(keys[1], "prod/"))
	os.Remove(victim)
	if out, err := runVerify(t, "verify", "archive", copyDir, "--key", key); err == nil || !strings.Contains(out, strings.TrimPrefix(keys[1], "prod/")+": listed in a digest but missing") {
		t.Fatalf("a deleted object must be named: %v\n%s", err, out)
	}

	// Object Lock (COMPLIANCE) refuses to delete an archived object version.
	checkObjectLock(t, archive, keys[0])

	// Parquet: DuckDB reads it and agrees with the search API.
	lakeDir := filepath.Join(t.TempDir(), "lake")
	download(t, s3Bucket(t, gw, "lake"), "events/", lakeDir)
	checkDuckDB(t, lakeDir, searched, n1)
}

func runVerify(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binaryPath, args...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+s3test.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3test.SecretKey)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// logOrigin is the name in a verifier key: origin+hash+key.
func logOrigin(t *testing.T, key string) string {
	name, _, ok := strings.Cut(key, "+")
	if !ok {
		t.Fatalf("bad key %q", key)
	}
	return name
}

// waitSinksCaughtUp waits until every sink's cursor reaches the log's size
// and returns it.
func waitSinksCaughtUp(t *testing.T, s *server) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := s.rest("GET", "/v1/sinks", nil)
		if code != 200 {
			t.Fatalf("GET /v1/sinks: %d %v", code, body)
		}
		sinks, _ := body["sinks"].([]any)
		done := len(sinks) > 0
		size := 0
		for _, x := range sinks {
			m := x.(map[string]any)
			size = atoiAny(m["logSize"])
			if atoiAny(m["nextSeq"]) < size || size == 0 {
				done = false
			}
		}
		if done {
			return size
		}
		if time.Now().After(deadline) {
			t.Fatalf("sinks did not catch up: %v", sinks)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func atoiAny(v any) int {
	var n int
	fmt.Sscan(fmt.Sprint(v), &n)
	return n
}

// countEachOnce checks that seqs 0..n-1 are each in exactly one object.
func countEachOnce(t *testing.T, b *export.S3, base string, n int) {
	t.Helper()
	ctx := context.Background()
	keys, err := b.List(ctx, base+"/events/")
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, n)
	for _, k := range keys {
		body, err := b.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := export.DecodeEvents(body)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for _, l := range lines {
			if l.Seq >= uint64(n) {
				t.Fatalf("%s: seq %d beyond the log of %d", k, l.Seq, n)
			}
			seen[l.Seq]++
		}
	}
	for seq, c := range seen {
		if c != 1 {
			t.Fatalf("seq %d is in %d objects, want 1", seq, c)
		}
	}
	t.Logf("%d events in %d archive objects, each exactly once", n, len(keys))
}

func download(t *testing.T, b *export.S3, prefix, dir string) {
	t.Helper()
	ctx := context.Background()
	keys, err := b.List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		body, err := b.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(k, prefix)))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func checkObjectLock(t *testing.T, b *export.S3, key string) {
	t.Helper()
	ctx := context.Background()
	c := b.Client()
	ret, err := c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String("audit"), Key: aws.String(key)})
	if err != nil || ret.Retention == nil || ret.Retention.Mode != types.ObjectLockRetentionModeCompliance {
		t.Fatalf("retention of %s: %+v, %v", key, ret, err)
	}
	vs, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("audit"), Prefix: aws.String(key)})
	if err != nil || len(vs.Versions) == 0 {
		t.Fatalf("versions of %s: %v", key, err)
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("audit"), Key: aws.String(key), VersionId: vs.Versions[0].VersionId})
	if err == nil {
		t.Fatalf("deleting locked %s succeeded", key)
	}
	if _, gerr := b.Get(ctx, key); gerr != nil {
		t.Fatalf("%s gone after a refused delete (%v): %v", key, err, gerr)
	}
	t.Logf("delete of a locked object refused: %v", errors.Unwrap(err))
}

// checkDuckDB reads the Parquet files with DuckDB (npm @duckdb/node-api,
// installed by .ci/run) and compares them with the search results: the
// same events, each once, typed columns, partitions by event day.
func checkDuckDB(t *testing.T, dir string, searched []string, acked int) {
	t.Helper()
	mod := filepath.Join("testdata", "duckdb")
	if _, err := os.Stat(filepath.Join(mod, "node_modules", "@duckdb", "node-api")); err != nil {
		const why = "Parquet check (e2e): needs DuckDB (npm ci --prefix e2e/testdata/duckdb)"
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		testnote.Skip(t, why)
	}
	out, err := exec.Command("node", filepath.Join(mod, "query.mjs"), dir).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("duckdb: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got struct {
		ByPrincipalAction []struct {
			Principal   string `json:"principal"`
			Action      string `json:"action"`
			EventSource string `json:"event_source"`
			N           string `json:"n"`
		} `json:"byPrincipalAction"`
		IDs           []string          `json:"ids"`
		Types         map[string]string `json:"types"`
		BadPartitions string            `json:"badPartitions"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("duckdb output %s: %v", out, err)
	}
	want := map[string]bool{}
	for _, n := range searched {
		want[strings.TrimPrefix(n, "events/")] = true
	}
	seen := map[string]bool{}
	for _, id := range got.IDs {
		if seen[id] {
			t.Fatalf("event %s is in the Parquet files twice", id)
		}
		seen[id] = true
		if !want[id] {
			t.Fatalf("event %s is in Parquet but not in the search results (the filter or a duplicate)", id)
		}
	}
	if len(seen) != len(want) || len(want) < acked {
		t.Fatalf("Parquet holds %d events, the search %d (acked before the kill: %d)", len(seen), len(want), acked)
	}
	if len(got.ByPrincipalAction) != 1 || got.ByPrincipalAction[0].N != fmt.Sprint(len(want)) || got.ByPrincipalAction[0].EventSource != "durability" {
		t.Fatalf("counts by principal/action: %+v, want one group of %d", got.ByPrincipalAction, len(want))
	}
	if got.Types["event_time"] != "TIMESTAMP WITH TIME ZONE" && got.Types["event_time"] != "TIMESTAMP" || got.Types["status_code"] != "INTEGER" ||
		!strings.HasPrefix(got.Types["metadata"], "MAP(") || got.Types["read_only"] != "BOOLEAN" {
		t.Fatalf("column types: %v", got.Types)
	}
	if got.BadPartitions != "0" {
		t.Fatalf("%s rows in a dt= partition of another day", got.BadPartitions)
	}
	t.Logf("DuckDB: %d events, counts %+v, types %v", len(seen), got.ByPrincipalAction, got.Types)
}

func s3Bucket(t *testing.T, gw *s3test.Server, name string) *export.S3 {
	t.Helper()
	b, err := export.NewS3(export.S3Config{Bucket: name, Endpoint: gw.URL(), PathStyle: true, AccessKeyID: s3test.AccessKey, SecretAccessKey: s3test.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
