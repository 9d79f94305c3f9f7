package tlog

import (
	"fmt"
	"slices"

	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// Hash is a tree hash.
type Hash = sumtlog.Hash

// Builder extends the tree one record at a time. It keeps only the
// frontier: the roots of the perfect subtrees that make up the current
// tree, which is all that appending and computing the root ever read. A
// store's writer owns one Builder and writes the hashes Append returns in
// the same atomic write as the event.
type Builder struct {
	size     int64
	frontier map[int64]Hash
}

// NewBuilder resumes a tree of size records, reading its frontier hashes
// with read.
func NewBuilder(size int64, read func(indexes []int64) ([]Hash, error)) (*Builder, error) {
	b := &Builder{size: size, frontier: map[int64]Hash{}}
	idx := frontierIndexes(size)
	if len(idx) == 0 {
		return b, nil
	}
	hs, err := read(idx)
	if err != nil {
		return nil, fmt.Errorf("tlog: read frontier of tree %d: %w", size, err)
	}
	if len(hs) != len(idx) {
		return nil, fmt.Errorf("tlog: read frontier of tree %d: got %d hashes for %d indexes", size, len(hs), len(idx))
	}
	for i, x := range idx {
		b.frontier[x] = hs[i]
	}
	return b, nil
}

// frontierIndexes are the stored-hash indexes of the perfect subtrees that
// make up a tree of n records, largest first.
func frontierIndexes(n int64) []int64 {
	var out []int64
	var start int64
	for level := 62; level >= 0; level-- {
		if n&(1<<level) != 0 {
			out = append(out, sumtlog.StoredHashIndex(level, start>>level))
			start += 1 << level
		}
	}
	return out
}

// Size is the number of records in the tree.
func (b *Builder) Size() int64 { return b.size }

func (b *Builder) read(indexes []int64) ([]Hash, error) {
	out := make([]Hash, len(indexes))
	for i, x := range indexes {
		h, ok := b.frontier[x]
		if !ok {
			return nil, fmt.Errorf("tlog: builder: hash %d is not on the frontier of tree %d", x, b.size)
		}
		out[i] = h
	}
	return out, nil
}

// Append adds the record with this leaf hash as record Size() and returns
// the hashes to store, at indexes first, first+1, … .
func (b *Builder) Append(leafHash Hash) (first int64, hashes []Hash, err error) {
	hashes, err = sumtlog.StoredHashesForRecordHash(b.size, leafHash, sumtlog.HashReaderFunc(b.read))
	if err != nil {
		return 0, nil, err
	}
	first = sumtlog.StoredHashIndex(0, b.size)
	// Appending merges the trailing subtrees into one: the new frontier is
	// the old one minus the merged subtrees plus the new subtree root, which
	// is the last hash returned.
	old := frontierIndexes(b.size)
	b.size++
	now := frontierIndexes(b.size)
	for _, x := range old {
		if !slices.Contains(now, x) {
			delete(b.frontier, x)
		}
	}
	top := now[len(now)-1]
	if top != first+int64(len(hashes))-1 {
		return 0, nil, fmt.Errorf("tlog: builder: new frontier root %d is not the last stored hash of record %d", top, b.size-1)
	}
	b.frontier[top] = hashes[len(hashes)-1]
	return first, hashes, nil
}

// AppendEvent appends the leaf of an event (EventLeaf) as record Size().
func (b *Builder) AppendEvent(origin string, receiveNs int64, id [16]byte, salt, stored []byte) (first int64, hashes []Hash, err error) {
	return b.Append(LeafHash(EventLeaf(origin, uint64(b.size), receiveNs, id, salt, stored).Marshal()))
}

// Frontier returns the frontier hashes in the order NewBuilder reads them,
// so a store can keep them beside the size and resume without reading the
// tree.
func (b *Builder) Frontier() []Hash {
	idx := frontierIndexes(b.size)
	out := make([]Hash, len(idx))
	for i, x := range idx {
		out[i] = b.frontier[x]
	}
	return out
}

// Root returns the tree hash of the current tree.
func (b *Builder) Root() (Hash, error) {
	return sumtlog.TreeHash(b.size, sumtlog.HashReaderFunc(b.read))
}
