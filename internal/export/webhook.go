package export

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/audittrail/audittrail/internal/store"
)

// Webhook headers: receivers recompute the signature over the timestamp,
// a dot and the raw body (docs/EXPORT.md, "Webhook").
const (
	HeaderTimestamp = "X-Audittrail-Timestamp"
	HeaderSignature = "X-Audittrail-Signature"
	HeaderBatch     = "X-Audittrail-Batch"
)

// Formatter renders one event for a streaming sink.
type Formatter func(store.Record) ([]byte, error)

// WebhookConfig configures a WebhookSink.
type WebhookConfig struct {
	// URL receives the POSTs; https, or http to loopback for tests.
	URL string
	// Secret keys the HMAC-SHA256 signature (at least 16 bytes).
	Secret []byte
	Format Formatter
	// Client, when set, sends the requests; a 30 s timeout by default.
	Client *http.Client
	Now    func() time.Time
}

// Validate reports the first invalid field.
func (c *WebhookConfig) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return fmt.Errorf("export: webhook: url must be an http(s) URL, got %q", c.URL)
	case len(c.Secret) < 16:
		return errors.New("export: webhook: the secret must be at least 16 bytes")
	case c.Format == nil:
		return errors.New("export: webhook: a format is required")
	}
	return nil
}

// WebhookSink POSTs each batch as {"events":[…]} (at least once: a
// receiver deduplicates by the events' ids).
type WebhookSink struct {
	cfg WebhookConfig
}

var _ Sink = (*WebhookSink)(nil)

// NewWebhookSink returns the sink.
func NewWebhookSink(cfg WebhookConfig) (*WebhookSink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &WebhookSink{cfg: cfg}, nil
}

// Sign is the signature header value of a body sent at ts (Unix seconds):
// "v1=" and the hex HMAC-SHA256 of ts + "." + body.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Deliver implements Sink: a 2xx answer acknowledges the batch.
func (w *WebhookSink) Deliver(ctx context.Context, state []byte, b Batch) ([]byte, error) {
	if len(b.Records) == 0 {
		return state, nil
	}
	body := []byte(`{"events":[`)
	for i, r := range b.Records {
		if i > 0 {
			body = append(body, ',')
		}
		e, err := w.cfg.Format(r)
		if err != nil {
			return nil, err
		}
		body = append(body, e...)
	}
	body = append(body, "]}\n"...)
	ts := strconv.FormatInt(w.cfg.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("export: webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.cfg.Secret, ts, body))
	req.Header.Set(HeaderBatch, fmt.Sprintf("%d-%d", b.First, b.Last))
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("export: webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("export: webhook: %s answered %s", w.cfg.URL, resp.Status)
	}
	return state, nil
}
