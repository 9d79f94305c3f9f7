package export

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/audittrail/audittrail/internal/tlog"
)

// FuzzParseDigest feeds the verifier's digest parser arbitrary text signed
// with the log's key: it must never panic, and what it accepts must
// re-encode to the text it parsed (no line is silently ignored).
func FuzzParseDigest(f *testing.F) {
	skey, vkey, _ := tlog.GenerateKey("fuzz.example/log")
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	d := Digest{Origin: "fuzz.example/log", Number: 2, PrevKey: "digests/0000000001.digest", PrevSHA256: strings.Repeat("a", 64),
		Objects:    []DigestEntry{{Key: "events/2026/12/01/1-2.jsonl.gz", First: 1, Last: 2, SHA256: strings.Repeat("b", 64), Bytes: 10}},
		Checkpoint: []byte("fuzz.example/log\n3\nAAAA\n\n— x\n")}
	f.Add(d.text())
	f.Add(DigestHeader + "\nlog fuzz.example/log\nnumber 1\nprevious none\n")
	f.Fuzz(func(t *testing.T, text string) {
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		signed, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			return
		}
		got, err := ParseDigest(signed, verifier)
		if err != nil {
			return
		}
		if again := got.text(); again != text {
			t.Fatalf("accepted digest does not round-trip:\n%q\n%q", text, again)
		}
	})
}

// FuzzDecodeEvents: an events object of any content is an error or lines,
// never a panic.
func FuzzDecodeEvents(f *testing.F) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"seq":1,"salt":"AAAA","stored":"AQID"}` + "\n"))
	zw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, body []byte) {
		DecodeEvents(body)
	})
}
