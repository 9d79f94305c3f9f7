// Package client is the Go SDK of the audit trail: a small REST/JSON client
// for the EventService that speaks protobuf's canonical JSON mapping, so it
// works through any HTTP proxy or load balancer.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/audittrail/audittrail/api/audittrail/v1"
)

// Error is an API error: the gRPC code and message of SPEC §3, and the HTTP
// status it came with.
type Error struct {
	HTTPStatus int
	Code       int32
	Message    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("audittrail: %s (code %d, HTTP %d)", e.Message, e.Code, e.HTTPStatus)
}

// Client calls one server. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	http      *http.Client
	userAgent string
}

// New returns a client for the server at baseURL (e.g.
// http://127.0.0.1:8080) that authenticates with token. httpClient may be
// nil for http.DefaultClient.
func New(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q must be http(s)://host:port", baseURL)
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{base: u, token: token, http: httpClient, userAgent: "audittrail-client/1"}, nil
}

// WithUserAgent returns a copy of c that sends ua as its User-Agent (which
// the server records in the self-audit events of searches).
func (c *Client) WithUserAgent(ua string) *Client {
	cp := *c
	cp.userAgent = ua
	return &cp
}

// CreateEvent stores one event under id. The response's Event is the event
// as stored (name, receive_time, redacted address and workspace set).
func (c *Client) CreateEvent(ctx context.Context, id string, e *pb.Event) (*pb.CreateEventResponse, error) {
	out := &pb.CreateEventResponse{}
	return out, c.do(ctx, http.MethodPost, "/v1/events?event_id="+url.QueryEscape(id), e, out)
}

// BatchCreateEvents stores up to 1000 events.
func (c *Client) BatchCreateEvents(ctx context.Context, req *pb.BatchCreateEventsRequest) (*pb.BatchCreateEventsResponse, error) {
	out := &pb.BatchCreateEventsResponse{}
	return out, c.do(ctx, http.MethodPost, "/v1/events:batchCreate", req, out)
}

// SearchEvents returns one page of matching events.
func (c *Client) SearchEvents(ctx context.Context, req *pb.SearchEventsRequest) (*pb.SearchEventsResponse, error) {
	out := &pb.SearchEventsResponse{}
	return out, c.do(ctx, http.MethodPost, "/v1/events:search", req, out)
}

// GetEvent returns the event with this id (or name `events/{id}`).
func (c *Client) GetEvent(ctx context.Context, id string) (*pb.Event, error) {
	id = strings.TrimPrefix(id, "events/")
	out := &pb.Event{}
	return out, c.do(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(id), nil, out)
}

// GetCheckpoint returns the latest signed checkpoint (size 0) or the one
// kept for a tree size.
func (c *Client) GetCheckpoint(ctx context.Context, size int64) (*pb.Checkpoint, error) {
	out := &pb.Checkpoint{}
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/log/checkpoint?tree_size=%d", size), nil, out)
}

// GetConsistencyProof proves that tree size to extends tree size from.
func (c *Client) GetConsistencyProof(ctx context.Context, from, to int64) (*pb.ConsistencyProof, error) {
	out := &pb.ConsistencyProof{}
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/log/consistencyProof?from_size=%d&to_size=%d", from, to), nil, out)
}

// GetEventProof returns the evidence that an event is in the signed log.
func (c *Client) GetEventProof(ctx context.Context, id string) (*pb.EventProof, error) {
	id = strings.TrimPrefix(id, "events/")
	out := &pb.EventProof{}
	return out, c.do(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(id)+":proof", nil, out)
}

// ListLogEntries returns stored events and salts from seq start on.
func (c *Client) ListLogEntries(ctx context.Context, start int64, pageSize int32) (*pb.ListLogEntriesResponse, error) {
	out := &pb.ListLogEntriesResponse{}
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/log/entries?start_seq=%d&page_size=%d", start, pageSize), nil, out)
}

// ListCheckpoints returns kept checkpoints from tree size start on.
func (c *Client) ListCheckpoints(ctx context.Context, start int64, pageSize int32) (*pb.ListCheckpointsResponse, error) {
	out := &pb.ListCheckpointsResponse{}
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/log/checkpoints?start_size=%d&page_size=%d", start, pageSize), nil, out)
}

// CreateToken issues a token for a services/… principal (admin only). The
// response's Secret is shown this once.
func (c *Client) CreateToken(ctx context.Context, req *pb.CreateTokenRequest) (*pb.CreateTokenResponse, error) {
	out := &pb.CreateTokenResponse{}
	return out, c.do(ctx, http.MethodPost, "/v1/tokens", req, out)
}

// ListTokens lists every token (admin only).
func (c *Client) ListTokens(ctx context.Context) (*pb.ListTokensResponse, error) {
	out := &pb.ListTokensResponse{}
	return out, c.do(ctx, http.MethodGet, "/v1/tokens", nil, out)
}

// RevokeTokens revokes a token by id, or every token of a principal (admin
// only), and returns the tokens it revoked.
func (c *Client) RevokeTokens(ctx context.Context, req *pb.RevokeTokensRequest) (*pb.RevokeTokensResponse, error) {
	out := &pb.RevokeTokensResponse{}
	return out, c.do(ctx, http.MethodPost, "/v1/tokens:revoke", req, out)
}

// ListSinks lists the server's export sinks with their cursors and lag
// (admin only).
func (c *Client) ListSinks(ctx context.Context) (*pb.ListSinksResponse, error) {
	out := &pb.ListSinksResponse{}
	return out, c.do(ctx, http.MethodGet, "/v1/sinks", nil, out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out proto.Message) error {
	var body io.Reader
	if in != nil {
		b, err := protojson.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("client: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		apiErr := &Error{HTTPStatus: resp.StatusCode, Message: strings.TrimSpace(string(b))}
		var body struct {
			Code    int32  `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &body) == nil && body.Message != "" {
			apiErr.Code, apiErr.Message = body.Code, body.Message
		}
		return apiErr
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: decode response: %w", err)
	}
	return nil
}

// IsCode reports whether err is an API error with this gRPC code.
func IsCode(err error, code int32) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
