package export

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildArchive writes an archive of 40 events with several digests to a
// directory.
func buildArchive(t *testing.T) (l *testLog, src string) {
	t.Helper()
	l = newTestLog(t)
	src = t.TempDir()
	dir, _ := NewDir(src)
	l.add(t, 20)
	runUntil(t, l, NewArchiveSink(dir, l, l.signer, "p"), fastOptions("a"), 20)
	l.add(t, 20)
	runUntil(t, l, NewArchiveSink(dir, l, l.signer, "p"), fastOptions("a"), 40)
	return l, src
}

// copyArchive copies the archive elsewhere, as a download of the bucket
// would, and returns the copy's path and its keys.
func copyArchive(t *testing.T, l *testLog, src string) (root string, events, digests []string) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "downloaded")
	if out, err := exec.Command("cp", "-r", src, root).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	cp, _ := NewDir(root)
	base := "p/" + LogID(l.signer.Name())
	events, _ = cp.List(context.Background(), base+"/events/")
	digests, _ = cp.List(context.Background(), base+"/digests/")
	if len(events) < 4 || len(digests) < 2 {
		t.Fatalf("want several objects and digests, got %v %v", events, digests)
	}
	return root, events, digests
}

func rewriteLines(t *testing.T, file string, f func([]ArchiveLine) []ArchiveLine) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := DecodeEvents(b)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for _, l := range f(lines) {
		json.NewEncoder(zw).Encode(l)
	}
	zw.Close()
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyBucketNamesTampering(t *testing.T) {
	l, src := buildArchive(t)
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, root string, events, digests []string) string // returns the key that must be named
		want   string
	}{
		{"untouched", func(*testing.T, string, []string, []string) string { return "" }, ""},
		{"edited object", func(t *testing.T, root string, ev, _ []string) string {
			rewriteLines(t, filepath.Join(root, ev[1]), func(ls []ArchiveLine) []ArchiveLine {
				ls[0].Stored[len(ls[0].Stored)-1] ^= 1
				return ls
			})
			return ev[1]
		}, "differs from its digest"},
		{"deleted object", func(t *testing.T, root string, ev, _ []string) string {
			os.Remove(filepath.Join(root, ev[2]))
			return ev[2]
		}, "missing (deleted)"},
		{"reordered events", func(t *testing.T, root string, ev, _ []string) string {
			rewriteLines(t, filepath.Join(root, ev[0]), func(ls []ArchiveLine) []ArchiveLine {
				ls[0], ls[1] = ls[1], ls[0]
				return ls
			})
			return ev[0]
		}, "reordered"},
		{"added object", func(t *testing.T, root string, ev, _ []string) string {
			extra := strings.Replace(ev[0], "-", "9-", 1)
			b, _ := os.ReadFile(filepath.Join(root, ev[0]))
			os.WriteFile(filepath.Join(root, extra), b, 0o644)
			return extra
		}, "undigested"},
		{"deleted digest", func(t *testing.T, root string, _, dg []string) string {
			os.Remove(filepath.Join(root, dg[0]))
			return dg[1]
		}, "chain is broken"},
		{"edited digest", func(t *testing.T, root string, _, dg []string) string {
			f := filepath.Join(root, dg[0])
			b, _ := os.ReadFile(f)
			os.WriteFile(f, bytes.Replace(b, []byte("number 1"), []byte("number 7"), 1), 0o644)
			return dg[0]
		}, "not signed by this log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each case tampers with its own downloaded copy.
			root, events, digests := copyArchive(t, l, src)
			key := tc.tamper(t, root, events, digests)
			dir, _ := NewDir(root)
			rep, err := VerifyBucket(context.Background(), dir, "p", l.verifier)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if !rep.OK(false) || rep.Events != 40 {
					t.Fatalf("untouched copy: %s %v", rep.Summary(), rep.Problems)
				}
				return
			}
			if rep.OK(false) {
				t.Fatalf("tampering passed: %s", rep.Summary())
			}
			all := strings.Join(append(rep.Problems, prefixAll("undigested ", rep.Undigested)...), "\n")
			if !strings.Contains(all, key) || !strings.Contains(all, tc.want) {
				t.Fatalf("report does not name %s with %q:\n%s", key, tc.want, all)
			}
		})
	}
}

func prefixAll(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}
