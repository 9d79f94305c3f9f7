package pebble

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/audittrail/audittrail/internal/store"
)

// tokenRecord is the stored form of a store.Token.
type tokenRecord struct {
	ID         string    `json:"id"`
	Hash       []byte    `json:"hash"`
	Principal  string    `json:"principal"`
	LoginName  string    `json:"login_name,omitempty"`
	CreatedBy  string    `json:"created_by,omitempty"`
	CreateTime time.Time `json:"create_time"`
	ExpireTime time.Time `json:"expire_time,omitzero"`
	RevokeTime time.Time `json:"revoke_time,omitzero"`
}

func toRecord(t store.Token) tokenRecord {
	return tokenRecord{ID: t.ID, Hash: t.Hash[:], Principal: t.Principal, LoginName: t.LoginName, CreatedBy: t.CreatedBy,
		CreateTime: t.CreateTime, ExpireTime: t.ExpireTime, RevokeTime: t.RevokeTime}
}

func (r tokenRecord) token() store.Token {
	t := store.Token{ID: r.ID, Principal: r.Principal, LoginName: r.LoginName, CreatedBy: r.CreatedBy,
		CreateTime: r.CreateTime, ExpireTime: r.ExpireTime, RevokeTime: r.RevokeTime}
	copy(t.Hash[:], r.Hash)
	return t
}

func tokenKey(id string) []byte        { return append([]byte{prefixToken}, id...) }
func tokenHashKey(h [32]byte) []byte   { return append([]byte{prefixTokenHash}, h[:]...) }
func loginKey(principal string) []byte { return append([]byte{prefixLogin}, principal...) }

func (s *Store) getValue(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pebble store: %w", err)
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

func (s *Store) readToken(id string) (store.Token, error) {
	v, err := s.getValue(tokenKey(id))
	if err != nil {
		return store.Token{}, err
	}
	var r tokenRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return store.Token{}, fmt.Errorf("pebble store: token %s: %w", id, err)
	}
	return r.token(), nil
}

func (s *Store) putToken(b *pebble.Batch, t store.Token) error {
	v, err := json.Marshal(toRecord(t))
	if err != nil {
		return fmt.Errorf("pebble store: token: %w", err)
	}
	return b.Set(tokenKey(t.ID), v, nil)
}

// CreateToken implements store.Store.
func (s *Store) CreateToken(_ context.Context, t store.Token) error {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	for _, k := range [][]byte{tokenKey(t.ID), tokenHashKey(t.Hash)} {
		if _, err := s.getValue(k); err == nil {
			return fmt.Errorf("%w: token %s", store.ErrAlreadyExists, t.ID)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	b := s.db.NewBatch()
	defer b.Close()
	if err := s.putToken(b, t); err != nil {
		return err
	}
	if err := b.Set(tokenHashKey(t.Hash), []byte(t.ID), nil); err != nil {
		return err
	}
	if t.LoginName != "" {
		if err := b.Set(loginKey(t.Principal), []byte(t.LoginName), nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebble store: create token: %w", err)
	}
	return nil
}

// TokenByHash implements store.Store.
func (s *Store) TokenByHash(_ context.Context, hash [32]byte) (store.Token, error) {
	id, err := s.getValue(tokenHashKey(hash))
	if err != nil {
		return store.Token{}, err
	}
	return s.readToken(string(id))
}

// Tokens implements store.Store.
func (s *Store) Tokens(ctx context.Context) ([]store.Token, error) {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{prefixToken}, UpperBound: []byte{prefixToken + 1}})
	if err != nil {
		return nil, fmt.Errorf("pebble store: tokens: %w", err)
	}
	defer it.Close()
	var out []store.Token
	for ok := it.First(); ok; ok = it.Next() {
		var r tokenRecord
		if err := json.Unmarshal(it.Value(), &r); err != nil {
			return nil, fmt.Errorf("pebble store: token: %w", err)
		}
		out = append(out, r.token())
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("pebble store: tokens: %w", err)
	}
	slices.SortStableFunc(out, func(a, b store.Token) int {
		if c := a.CreateTime.Compare(b.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeTokens implements store.Store.
func (s *Store) RevokeTokens(ctx context.Context, id, principal string, at time.Time) ([]store.Token, error) {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	var all []store.Token
	if id != "" {
		t, err := s.readToken(id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		all = []store.Token{t}
	} else {
		var err error
		if all, err = s.Tokens(ctx); err != nil {
			return nil, err
		}
	}
	b := s.db.NewBatch()
	defer b.Close()
	var revoked []store.Token
	for _, t := range all {
		if !t.RevokeTime.IsZero() || (id == "" && t.Principal != principal) {
			continue
		}
		t.RevokeTime = at
		if err := s.putToken(b, t); err != nil {
			return nil, err
		}
		revoked = append(revoked, t)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("pebble store: revoke tokens: %w", err)
	}
	return revoked, nil
}

// SetLoginName implements store.Store.
func (s *Store) SetLoginName(_ context.Context, principal, name string) error {
	if err := s.db.Set(loginKey(principal), []byte(name), pebble.Sync); err != nil {
		return fmt.Errorf("pebble store: login name: %w", err)
	}
	return nil
}

// LoginNames implements store.Store.
func (s *Store) LoginNames(_ context.Context, principals []string) (map[string]string, error) {
	out := make(map[string]string, len(principals))
	for _, p := range principals {
		v, err := s.getValue(loginKey(p))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[p] = string(v)
	}
	return out, nil
}
