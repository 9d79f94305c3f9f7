package tlog

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// refRoot computes the RFC 6962 root of leaf hashes recursively, as a
// reference independent of the stored-hash layout.
func refRoot(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return Hash(sha256.Sum256(nil))
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := refRoot(leaves[:k]), refRoot(leaves[k:])
	return Hash(rfc6962.DefaultHasher.HashChildren(l[:], r[:]))
}

func TestBuilderMatchesReferenceAndResumes(t *testing.T) {
	stored := map[int64]Hash{}
	read := func(idx []int64) ([]Hash, error) {
		out := make([]Hash, len(idx))
		for i, x := range idx {
			h, ok := stored[x]
			if !ok {
				return nil, fmt.Errorf("hash %d not stored", x)
			}
			out[i] = h
		}
		return out, nil
	}
	b, _ := NewBuilder(0, read)
	var leaves []Hash
	for n := range 300 {
		if n%37 == 0 { // resume from storage as a restarted store does
			var err error
			if b, err = NewBuilder(int64(n), read); err != nil {
				t.Fatal(err)
			}
		}
		lh := LeafHash([]byte(fmt.Sprint("leaf ", n)))
		leaves = append(leaves, lh)
		first, hs, err := b.Append(lh)
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range hs {
			stored[first+int64(i)] = h
		}
		root, err := b.Root()
		if err != nil {
			t.Fatal(err)
		}
		if want := refRoot(leaves); root != want {
			t.Fatalf("size %d: root %x, want %x", n+1, root, want)
		}
		if th, err := sumtlog.TreeHash(int64(n+1), sumtlog.HashReaderFunc(read)); err != nil || th != root {
			t.Fatalf("size %d: tree hash from stored hashes %x %v, builder %x", n+1, th, err, root)
		}
	}
}

func TestLeafRoundTrip(t *testing.T) {
	l := &Leaf{Origin: "example.com/log", Seq: 42, ReceiveTime: 1700000000123456789, ID: [16]byte{1, 2, 3}, Commitment: Commit([]byte("salt"), []byte("bytes"))}
	b := l.Marshal()
	got, err := ParseLeaf(b)
	if err != nil || *got != *l {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(append([]byte{}, b...), 0), append([]byte("audittrail/leaf/v2\n"), b[len(LeafDomain):]...)} {
		if _, err := ParseLeaf(bad); err == nil {
			t.Errorf("ParseLeaf accepted %d bytes", len(bad))
		}
	}
}
