package keycloak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/audittrail/audittrail/internal/event"
)

// PullerConfig configures a Puller. Start from DefaultPullerConfig.
type PullerConfig struct {
	// BaseURL is Keycloak's (e.g. https://keycloak.example.com).
	BaseURL string
	// Realm whose events are pulled.
	Realm string
	// ClientID and ClientSecret are a confidential client whose service
	// account may view events (realm-management: view-events).
	ClientID, ClientSecret string
	// TokenURL defaults to the realm's token endpoint.
	TokenURL string
	// Interval is the wait between polls.
	Interval time.Duration
	// Overlap is how far before the cursor each poll reads again, for
	// events Keycloak stores late (clock skew, slow nodes); what is read
	// twice is stored once (the ids are derived).
	Overlap time.Duration
	// PageSize is the events asked for per page.
	PageSize int
	// CursorFile keeps, across restarts, the time of the newest event
	// stored of each kind.
	CursorFile string
}

// DefaultPullerConfig returns the defaults.
func DefaultPullerConfig() PullerConfig {
	return PullerConfig{Interval: 30 * time.Second, Overlap: 5 * time.Minute, PageSize: 100}
}

// Validate checks the configuration.
func (c *PullerConfig) Validate() error {
	if _, err := url.Parse(c.BaseURL); err != nil || c.BaseURL == "" || c.Realm == "" || c.ClientID == "" || c.CursorFile == "" {
		return errors.New("keycloak puller: base URL, realm, client id and cursor file are required")
	}
	if c.Interval <= 0 || c.Overlap < 0 || c.PageSize < 1 {
		return errors.New("keycloak puller: interval and page size must be positive, overlap not negative")
	}
	return nil
}

// Sink stores converted events (the server's adapter path).
type Sink interface {
	StoreAdapted(ctx context.Context, adapter string, events []*event.Event) error
}

// Puller reads user and admin events from Keycloak's admin REST API,
// oldest first, from a durable cursor.
type Puller struct {
	cfg    PullerConfig
	sink   Sink
	log    *slog.Logger
	client *http.Client
}

// NewPuller returns a puller; base is the HTTP client for Keycloak (nil
// for the default).
func NewPuller(cfg PullerConfig, sink Sink, log *slog.Logger, base *http.Client) (*Puller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = strings.TrimRight(cfg.BaseURL, "/") + "/realms/" + url.PathEscape(cfg.Realm) + "/protocol/openid-connect/token"
	}
	cc := clientcredentials.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: cfg.TokenURL}
	ctx := context.Background()
	if base != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, base)
	}
	return &Puller{cfg: cfg, sink: sink, log: log, client: cc.Client(ctx)}, nil
}

// Run polls until ctx ends.
func (p *Puller) Run(ctx context.Context) {
	for {
		if err := p.Poll(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("keycloak puller: poll failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(p.cfg.Interval):
		}
	}
}

// cursor is the newest event time (Unix ms) stored, per kind.
type cursor struct {
	User  int64 `json:"user"`
	Admin int64 `json:"admin"`
}

// Poll reads and stores what is new since the cursor (less the overlap),
// then moves the cursor on.
func (p *Puller) Poll(ctx context.Context) error {
	cur, err := p.readCursor()
	if err != nil {
		return err
	}
	for _, kind := range []struct {
		path string
		at   *int64
	}{{"events", &cur.User}, {"admin-events", &cur.Admin}} {
		newest, err := p.pull(ctx, kind.path, *kind.at)
		if err != nil {
			return err
		}
		if newest > *kind.at {
			*kind.at = newest
			if err := p.writeCursor(cur); err != nil {
				return err
			}
		}
	}
	return nil
}

// pull stores every event of path from the cursor on and returns the
// newest time seen.
func (p *Puller) pull(ctx context.Context, path string, from int64) (int64, error) {
	since := from - p.cfg.Overlap.Milliseconds()
	if from == 0 || since < 0 {
		since = 0
	}
	newest := from
	for first := 0; ; first += p.cfg.PageSize {
		q := url.Values{"dateFrom": {strconv.FormatInt(since, 10)}, "direction": {"asc"},
			"first": {strconv.Itoa(first)}, "max": {strconv.Itoa(p.cfg.PageSize)}}
		u := strings.TrimRight(p.cfg.BaseURL, "/") + "/admin/realms/" + url.PathEscape(p.cfg.Realm) + "/" + path + "?" + q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return newest, err
		}
		resp, err := p.client.Do(req)
		if err != nil {
			return newest, fmt.Errorf("keycloak puller: %s: %w", path, err)
		}
		var page []Event
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return newest, fmt.Errorf("keycloak puller: %s: HTTP %d", path, resp.StatusCode)
		}
		if err != nil {
			return newest, fmt.Errorf("keycloak puller: %s: %w", path, err)
		}
		events := make([]*event.Event, 0, len(page))
		for i := range page {
			if page[i].RealmID == "" {
				page[i].RealmID = p.cfg.Realm
			}
			events = append(events, Convert(&page[i]))
			newest = max(newest, page[i].Time)
		}
		if len(events) > 0 {
			if err := p.sink.StoreAdapted(ctx, "keycloak", events); err != nil {
				return from, err // the cursor stays: the page is read again
			}
		}
		if len(page) < p.cfg.PageSize {
			return newest, nil
		}
	}
}

func (p *Puller) readCursor() (cursor, error) {
	var c cursor
	b, err := os.ReadFile(p.cfg.CursorFile)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("keycloak puller: cursor: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("keycloak puller: cursor %s: %w", p.cfg.CursorFile, err)
	}
	return c, nil
}

// writeCursor replaces the cursor file atomically.
func (p *Puller) writeCursor(c cursor) error {
	b, _ := json.Marshal(c)
	tmp := p.cfg.CursorFile + ".tmp"
	if err := os.MkdirAll(filepath.Dir(p.cfg.CursorFile), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("keycloak puller: cursor: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	f.Close()
	return os.Rename(tmp, p.cfg.CursorFile)
}
