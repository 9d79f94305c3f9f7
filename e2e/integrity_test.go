package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cpebble "github.com/cockroachdb/pebble/v2"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
	"github.com/audittrail/audittrail/internal/event"
)

// logKey returns the public key printed alone on the last line of `log key`.
func logKey(t *testing.T, s *server) string {
	t.Helper()
	out, errOut, code := s.cli("", "log", "key", "--server=http://"+s.addr)
	if code != 0 {
		t.Fatalf("log key: exit %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// createBatch stores n events with wait_for_checkpoint and returns names.
func createBatch(t *testing.T, s *server, n int, action string) []string {
	t.Helper()
	reqs := make([]map[string]any, n)
	for i := range reqs {
		reqs[i] = map[string]any{"eventId": newID(), "event": ev(map[string]any{"action": action})}
	}
	code, body := s.rest("POST", "/v1/events:batchCreate", map[string]any{"requests": reqs, "waitForCheckpoint": true})
	if code != 200 {
		t.Fatalf("batch: HTTP %d %v", code, body)
	}
	var names []string
	for _, e := range body["events"].([]any) {
		names = append(names, e.(map[string]any)["name"].(string))
	}
	return names
}

func exportArchive(t *testing.T, s *server) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "archive")
	if out, errOut, code := s.cli("", "export", "archive", "--out", dir, "--server=http://"+s.addr); code != 0 {
		t.Fatalf("export: exit %d %s %s", code, out, errOut)
	}
	return dir
}

func TestIntegrity(t *testing.T) {
	s := startServer(t, "")
	srv := "--server=http://" + s.addr
	key := logKey(t, s)
	names := createBatch(t, s, 20, "actions/i/CREATE")

	t.Run("acknowledged events are in a signed checkpoint within 2s", func(t *testing.T) {
		start := time.Now()
		id := newID()
		code, body := s.rest("POST", "/v1/events?event_id="+id+"&wait_for_checkpoint=true", ev(nil))
		if code != 200 {
			t.Fatalf("HTTP %d %v", code, body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("wait_for_checkpoint took %v", d)
		}
		out, errOut, code := s.cli("", "verify", "event", "events/"+id, "--key", key, srv)
		if code != 0 || !strings.Contains(out, "verified events/"+id) {
			t.Errorf("verify event: exit %d %s %s", code, out, errOut)
		}
	})
	t.Run("checkpoint and proofs over REST and gRPC", func(t *testing.T) {
		code, cp := s.rest("GET", "/v1/log/checkpoint", nil)
		if code != 200 || cp["verifierKey"] != key || !strings.HasPrefix(cp["signedNote"].(string), cp["origin"].(string)+"\n21\n") {
			t.Fatalf("checkpoint: HTTP %d %v", code, cp)
		}
		code, p := s.rest("GET", "/v1/log/inclusionProof?name="+names[3]+"&tree_size=21", nil)
		if code != 200 || p["seq"] != "3" || len(p["hashes"].([]any)) == 0 {
			t.Errorf("inclusion proof: HTTP %d %v", code, p)
		}
		code, p = s.rest("GET", "/v1/log/inclusionProof?seq=4", nil)
		if code != 200 || p["seq"] != "4" {
			t.Errorf("inclusion proof by seq: HTTP %d %v", code, p)
		}
		code, p = s.rest("GET", "/v1/log/consistencyProof?from_size=7&to_size=21", nil)
		if code != 200 || len(p["hashes"].([]any)) == 0 {
			t.Errorf("consistency proof: HTTP %d %v", code, p)
		}
		if code, _ := s.rest("GET", "/v1/log/inclusionProof?seq=99&tree_size=21", nil); code != 404 {
			t.Errorf("inclusion proof of a seq beyond the log: HTTP %d, want 404", code)
		}
		for _, bad := range []string{"/v1/log/consistencyProof?from_size=0", "/v1/log/consistencyProof?from_size=30", "/v1/log/inclusionProof?seq=3&tree_size=2", "/v1/log/inclusionProof?tree_size=5000&seq=1", "/v1/log/inclusionProof"} {
			if code, body := s.rest("GET", bad, nil); code != 400 {
				t.Errorf("%s: HTTP %d %v, want 400", bad, code, body)
			}
		}
		if code, _ := s.rest("GET", "/v1/events/"+newID()+":proof", nil); code != 404 {
			t.Errorf("proof of an unknown event: HTTP %d, want 404", code)
		}
		conn, ctx := s.grpcConn()
		ep, err := pb.NewLogServiceClient(conn).GetEventProof(ctx, &pb.GetEventProofRequest{Name: names[5]})
		if err != nil || ep.Seq != 5 || len(ep.Salt) != 32 || ep.Checkpoint.TreeSize < 6 || ep.Event.GetName() != names[5] {
			t.Errorf("gRPC GetEventProof: %v %v", ep, err)
		}
		if code, _ := s.restAs("", "GET", "/v1/log/checkpoint", nil); code != 401 {
			t.Errorf("checkpoint without a token: HTTP %d, want 401", code)
		}
	})
	t.Run("monitor and archive", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		for range 2 {
			if out, errOut, code := s.cli("", "verify", "log", "--key", key, "--state", state, srv); code != 0 {
				t.Fatalf("verify log: exit %d %s %s", code, out, errOut)
			}
			createBatch(t, s, 5, "actions/i/MORE")
		}
		dir := exportArchive(t, s)
		out, errOut, code := s.cli("", "verify", "archive", dir, "--key", key)
		if code != 0 || !regexp.MustCompile(`^(\d+)/(\d+) checkpoints, 31/31 events valid\n$`).MatchString(out) {
			t.Fatalf("verify archive: exit %d %q %s", code, out, errOut)
		}
		if m := regexp.MustCompile(`^(\d+)/(\d+) `).FindStringSubmatch(out); m[1] != m[2] || m[1] == "0" {
			t.Errorf("checkpoints %s", out)
		}
		t.Run("tampered archives", func(t *testing.T) {
			tampered := func(t *testing.T, mutate func(dir string)) (string, int) {
				d := filepath.Join(t.TempDir(), "a")
				if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
					t.Fatal(err)
				}
				mutate(d)
				out, errOut, code := s.cli("", "verify", "archive", d, "--key", key)
				return out + errOut, code
			}
			events := readArchiveEvents(t, filepath.Join(dir, "events.bin"))
			cases := []struct {
				name   string
				mutate func(dir string)
				want   []string
			}{
				{"edited event", func(d string) {
					events := readArchiveEvents(t, filepath.Join(d, "events.bin"))
					events[7].stored = bytes.Replace(events[7].stored, []byte("actions/i/CREATE"), []byte("actions/i/DELETE"), 1)
					writeArchiveEvents(t, filepath.Join(d, "events.bin"), events)
				}, []string{"event events/" + events[7].id + " (seq 7): does not match the leaf", "31 events valid"}},
				{"dropped file", func(d string) { os.Remove(filepath.Join(d, "leaves.bin")) }, []string{"leaves.bin: no such file"}},
				{"dropped checkpoint", func(d string) {
					files, _ := filepath.Glob(filepath.Join(d, "checkpoints", "*"))
					os.Remove(files[len(files)-1])
				}, []string{"events after the last checkpoint are covered by no signature"}},
				{"reordered events", func(d string) {
					events := readArchiveEvents(t, filepath.Join(d, "events.bin"))
					events[3], events[4] = events[4], events[3]
					writeArchiveEvents(t, filepath.Join(d, "events.bin"), events)
				}, []string{"events/" + events[4].id + " (seq 3): does not match", "events/" + events[3].id + " (seq 4): does not match"}},
				{"reordered leaves too", func(d string) {
					leaves, _ := os.ReadFile(filepath.Join(d, "leaves.bin"))
					l3 := bytes.Clone(leaves[3*32 : 4*32])
					copy(leaves[3*32:], leaves[4*32:5*32])
					copy(leaves[4*32:], l3)
					os.WriteFile(filepath.Join(d, "leaves.bin"), leaves, 0o644)
					events := readArchiveEvents(t, filepath.Join(d, "events.bin"))
					events[3], events[4] = events[4], events[3]
					writeArchiveEvents(t, filepath.Join(d, "events.bin"), events)
				}, []string{"leaves.bin does not give its root"}},
				{"another key", func(string) {}, nil},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if tc.name == "another key" {
						other := startServer(t, "")
						out, errOut, code := s.cli("", "verify", "archive", dir, "--key", logKey(t, other))
						if code == 0 || !strings.Contains(out, "0/") || !strings.Contains(out+errOut, "checkpoint") {
							t.Errorf("verified with another log's key: exit %d %s %s", code, out, errOut)
						}
						return
					}
					out, code := tampered(t, tc.mutate)
					if code == 0 {
						t.Fatalf("tampered archive verified:\n%s", out)
					}
					for _, w := range tc.want {
						if !strings.Contains(out, w) {
							t.Errorf("output lacks %q:\n%s", w, out)
						}
					}
				})
			}
		})
	})
}

type archiveEvent struct {
	salt, stored []byte
	id           string
}

func readArchiveEvents(t *testing.T, path string) []archiveEvent {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []archiveEvent
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		e := archiveEvent{salt: b[k : k+32], stored: b[k+32 : k+32+int(n)]}
		dec, err := event.UnmarshalBinary(e.stored)
		if err != nil {
			t.Fatal(err)
		}
		e.id = dec.ID
		out = append(out, e)
		b = b[k+32+int(n):]
	}
	return out
}

func writeArchiveEvents(t *testing.T, path string, evs []archiveEvent) {
	t.Helper()
	var b []byte
	for _, e := range evs {
		b = binary.AppendUvarint(b, uint64(len(e.stored)))
		b = append(append(b, e.salt...), e.stored...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tamperStore edits the stopped server's Pebble store directly.
func tamperStore(t *testing.T, data string, edit func(db *cpebble.DB)) {
	t.Helper()
	db, err := cpebble.Open(filepath.Join(data, "events"), &cpebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	edit(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedStoreIsDetected(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	key := logKey(t, s)
	names := createBatch(t, s, 12, "actions/t/CREATE")
	victim := strings.TrimPrefix(names[6], "events/")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	tamperStore(t, data, func(db *cpebble.DB) {
		it, _ := db.NewIter(&cpebble.IterOptions{LowerBound: []byte("e"), UpperBound: []byte("f")})
		defer it.Close()
		for ok := it.First(); ok; ok = it.Next() {
			v := bytes.Clone(it.Value())
			e, err := event.UnmarshalBinary(v[32:])
			if err != nil || e.ID != victim {
				continue
			}
			// Flip one byte of the stored event: CREATE → CREATF.
			i := bytes.LastIndex(v, []byte("CREATE"))
			v[i+5] ^= 0x03
			if err := db.Set(bytes.Clone(it.Key()), v, cpebble.Sync); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatal("victim not found in the store")
	})
	s = startServer(t, data)
	srv := "--server=http://" + s.addr
	out, errOut, code := s.cli("", "verify", "event", names[6], "--key", key, srv)
	if code == 0 || !strings.Contains(errOut, "FAILED "+names[6]) || !strings.Contains(errOut, "not included") {
		t.Errorf("verify event of the altered event: exit %d %s %s", code, out, errOut)
	}
	if _, _, code := s.cli("", "verify", "event", names[5], "--key", key, srv); code != 0 {
		t.Errorf("verify event of an untouched event: exit %d", code)
	}
	dir := exportArchive(t, s)
	out, errOut, code = s.cli("", "verify", "archive", dir, "--key", key)
	if code == 0 || !strings.Contains(out, "event "+names[6]+" (seq 6): does not match the leaf") || !strings.Contains(out, "11/12 events valid") {
		t.Errorf("verify archive: exit %d\n%s%s", code, out, errOut)
	}
}

func TestRolledBackLogFailsTheMonitor(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, data)
	key := logKey(t, s)
	createBatch(t, s, 10, "actions/r/CREATE")
	state := filepath.Join(t.TempDir(), "state")
	if _, errOut, code := s.cli("", "verify", "log", "--key", key, "--state", state, "--server=http://"+s.addr); code != 0 {
		t.Fatalf("verify log: %s", errOut)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	// Delete the newest 4 events and every checkpoint that covers them, as
	// an intruder rolling the store back would.
	tamperStore(t, data, func(db *cpebble.DB) {
		b := db.NewBatch()
		for seq := uint64(6); seq < 10; seq++ {
			sk := binary.BigEndian.AppendUint64([]byte("s"), seq)
			v, closer, err := db.Get(sk)
			if err != nil {
				t.Fatal(err)
			}
			ek := append([]byte("e"), v[:16]...)
			closer.Close()
			b.Delete(sk, nil)
			b.Delete(ek, nil)
		}
		b.DeleteRange(binary.BigEndian.AppendUint64([]byte("c"), 7), []byte("d"), nil)
		if err := b.Commit(cpebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	s = startServer(t, data)
	createBatch(t, s, 6, "actions/r/AGAIN")
	out, errOut, code := s.cli("", "verify", "log", "--key", key, "--state", state, "--server=http://"+s.addr)
	if code == 0 || !strings.Contains(errOut, "FAILED") || !strings.Contains(errOut, "does not extend the one of size 10") {
		t.Errorf("monitor after a rollback: exit %d %s %s", code, out, errOut)
	}
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)           {}
func (quietLogger) Errorf(string, ...any)          {}
func (quietLogger) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
