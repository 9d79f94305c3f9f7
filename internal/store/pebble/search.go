package pebble

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/audittrail/audittrail/internal/event"
	"github.com/audittrail/audittrail/internal/store"
)

// indexPriority is the order in which exact filters are preferred as the
// access path: the fields whose values are usually the most selective first.
var indexPriority = [...]event.Field{
	event.FieldResource, event.FieldPrincipal, event.FieldWorkspace,
	event.FieldAction, event.FieldEventSource, event.FieldSourceIP,
}

// maxPrefixValues bounds how many distinct values an anchored regex prefix
// may expand to before the search falls back to the time order scan.
const maxPrefixValues = 256

// deadlineCheckEvery is how many keys are examined between clock reads.
const deadlineCheckEvery = 64

// Search implements store.Store. It walks one access path in newest-first
// order: the primary time order, one exact-filter index, or the merged
// per-value ranges of an anchored regex prefix; every condition of the filter
// is then checked in Go on the decoded event.
func (s *Store) Search(ctx context.Context, q store.Query) (store.Result, error) {
	res := store.Result{Size: q.Size}
	if res.Size == 0 {
		res.Size = s.size.Load()
	}
	if q.Limit < 1 {
		return res, fmt.Errorf("pebble store: search limit %d must be positive", q.Limit)
	}
	prefixes, err := s.accessPath(q.Filter)
	if err != nil {
		return res, err
	}
	var after []byte
	if q.After != nil {
		after = orderKey(nil, q.After.EventTime, q.After.Seq)
	}
	m := &merger{}
	defer m.close()
	startNs, endNs := q.Filter.NanoRange()
	for _, p := range prefixes {
		lower, upper, empty := rangeBounds(p, startNs, endNs, after)
		if empty {
			continue
		}
		it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		if err != nil {
			return res, fmt.Errorf("pebble store: search: %w", err)
		}
		m.its = append(m.its, it)
		if it.First() {
			m.live = append(m.live, cursor{it: it, primary: p[0] == prefixEvent})
		} else if err := it.Error(); err != nil {
			return res, fmt.Errorf("pebble store: search: %w", err)
		}
	}
	heap.Init(m)
	// Index entries come out in ascending order-key order, so the events
	// they point to are fetched with ascending seeks on one iterator, which
	// Pebble serves much more cheaply than independent Gets.
	var primary *pebble.Iterator
	defer func() {
		if primary != nil {
			primary.Close()
		}
	}()

	var last []byte // order key of the last examined entry
	examined := 0
	for m.Len() > 0 {
		if examined%deadlineCheckEvery == 0 && examined > 0 {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			if !q.Deadline.IsZero() && time.Now().After(q.Deadline) {
				break
			}
		}
		examined++
		c := &m.live[0]
		k := c.it.Key()
		order := k[len(k)-orderLen:]
		_, seq, err := parseOrder(order)
		if err != nil {
			return res, err
		}
		if seq < res.Size {
			var rec store.Record
			if c.primary {
				rec, err = decodeRecord(order, c.it.Value())
			} else {
				if primary == nil {
					if primary, err = s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{prefixEvent}, UpperBound: []byte{prefixEvent + 1}}); err != nil {
						return res, fmt.Errorf("pebble store: search: %w", err)
					}
				}
				rec, err = seekRecord(primary, order)
			}
			if err != nil {
				return res, err
			}
			if q.Filter.Match(rec.Event) {
				if len(res.Records) == q.Limit {
					// One more match exists: the page is full and has a
					// successor, which starts right after the last entry
					// examined before this one.
					res.Next = positionOf(last)
					return res, nil
				}
				res.Records = append(res.Records, rec)
			}
		}
		last = append(last[:0], order...)
		if c.it.Next() {
			heap.Fix(m, 0)
		} else {
			if err := c.it.Error(); err != nil {
				return res, fmt.Errorf("pebble store: search: %w", err)
			}
			heap.Pop(m)
		}
	}
	if m.Len() > 0 && last != nil {
		res.Next = positionOf(last) // budget spent before the range was
	}
	return res, nil
}

func positionOf(order []byte) *store.Position {
	t, seq, _ := parseOrder(order)
	return &store.Position{EventTime: t, Seq: seq}
}

// accessPath returns the key prefixes to scan; each is ordered newest first.
func (s *Store) accessPath(f *event.Filter) ([][]byte, error) {
	for _, fld := range indexPriority {
		// Empty values are not indexed: an exact "" is checked by Match.
		if v := f.Exact[fld]; v != nil && *v != "" {
			return [][]byte{indexValuePrefix(nil, fld, *v)}, nil
		}
	}
	if f.Workspaces != nil && len(f.Workspaces) <= maxPrefixValues {
		// A scoped reader: merge the index ranges of its workspaces.
		out := make([][]byte, 0, len(f.Workspaces))
		for _, ws := range f.Workspaces {
			out = append(out, indexValuePrefix(nil, event.FieldWorkspace, ws))
		}
		return out, nil
	}
	for _, fld := range indexPriority {
		if lit, ok := f.RegexPrefix(fld); ok {
			values, err := s.valuePrefixes(fld, lit)
			if err != nil {
				return nil, err
			}
			if values != nil {
				return values, nil
			}
		}
	}
	return [][]byte{{prefixEvent}}, nil
}

// valuePrefixes lists the index prefixes of the distinct values of fld that
// start with lit, or nil when there are more than maxPrefixValues of them
// (the caller then scans in time order instead).
func (s *Store) valuePrefixes(fld event.Field, lit string) ([][]byte, error) {
	p := indexLiteralPrefix(fld, lit)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, fmt.Errorf("pebble store: search: %w", err)
	}
	defer it.Close()
	out := [][]byte{}
	for ok := it.First(); ok; {
		n, err := splitIndexValue(it.Key())
		if err != nil {
			return nil, err
		}
		vp := bytes.Clone(it.Key()[:n])
		out = append(out, vp)
		if len(out) > maxPrefixValues {
			return nil, nil
		}
		ok = it.SeekGE(prefixEnd(vp))
	}
	return out, it.Error()
}

// cursor is one access-path iterator positioned on its next entry.
type cursor struct {
	it      *pebble.Iterator
	primary bool // entries carry the event bytes
}

// merger is a min-heap of cursors by order key: a k-way merge of per-value
// index ranges into one newest-first stream.
type merger struct {
	its  []*pebble.Iterator // every iterator, for close
	live []cursor
}

func (m *merger) Len() int { return len(m.live) }
func (m *merger) Less(i, j int) bool {
	a, b := m.live[i].it.Key(), m.live[j].it.Key()
	return bytes.Compare(a[len(a)-orderLen:], b[len(b)-orderLen:]) < 0
}
func (m *merger) Swap(i, j int) { m.live[i], m.live[j] = m.live[j], m.live[i] }
func (m *merger) Push(x any)    { m.live = append(m.live, x.(cursor)) }
func (m *merger) Pop() any {
	c := m.live[len(m.live)-1]
	m.live = m.live[:len(m.live)-1]
	return c
}

func (m *merger) close() {
	for _, it := range m.its {
		it.Close()
	}
}

// seekRecord positions the primary iterator on the event of an order key.
func seekRecord(it *pebble.Iterator, order []byte) (store.Record, error) {
	k := eventKey(order)
	if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) {
		if err := it.Error(); err != nil {
			return store.Record{}, fmt.Errorf("pebble store: search: %w", err)
		}
		return store.Record{}, fmt.Errorf("pebble store: index entry without event: %w", errBadKey)
	}
	return decodeRecord(order, it.Value())
}
