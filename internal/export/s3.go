package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Config is an S3 (or S3-compatible) bucket.
type S3Config struct {
	// Bucket is required.
	Bucket string
	// Endpoint is the server's URL, e.g. http://127.0.0.1:7070; empty means
	// AWS's own endpoint for Region.
	Endpoint string
	// Region defaults to us-east-1.
	Region string
	// PathStyle addresses the bucket in the path (most self-hosted servers
	// need it) rather than in the host name.
	PathStyle bool
	// AccessKeyID and SecretAccessKey (and SessionToken) are the
	// credentials; both empty means anonymous requests.
	AccessKeyID, SecretAccessKey, SessionToken string
	// LockMode, when set ("COMPLIANCE" or "GOVERNANCE"), puts an S3 Object
	// Lock retention of LockRetain on every object written; the bucket must
	// have Object Lock enabled.
	LockMode   string
	LockRetain time.Duration
	// HTTPClient, when set, carries the requests (tests inject faults here).
	HTTPClient *http.Client
	// Now is the clock for retain-until dates.
	Now func() time.Time
}

// Validate reports the first invalid field.
func (c *S3Config) Validate() error {
	switch {
	case c.Bucket == "":
		return errors.New("export: s3: bucket is required")
	case c.LockMode != "" && c.LockMode != "COMPLIANCE" && c.LockMode != "GOVERNANCE":
		return fmt.Errorf("export: s3: object_lock.mode must be COMPLIANCE or GOVERNANCE, got %q", c.LockMode)
	case c.LockMode != "" && c.LockRetain <= 0:
		return errors.New("export: s3: object_lock.retain must be positive when object_lock.mode is set")
	case (c.AccessKeyID == "") != (c.SecretAccessKey == ""):
		return errors.New("export: s3: access key id and secret access key go together")
	}
	return nil
}

// S3 is an Objects in an S3 bucket.
type S3 struct {
	cfg    S3Config
	client *s3.Client
}

var _ Objects = (*S3)(nil)

// NewS3 returns the bucket's object store; it does not contact the server.
func NewS3(cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := s3.Options{
		Region:       cfg.Region,
		UsePathStyle: cfg.PathStyle,
		Retryer:      aws.NopRetryer{}, // the Runner retries, with its own backoff and metrics
		// Only ask for checksums where S3 requires them (Object Lock puts):
		// many S3-compatible servers reject the newer default trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	if cfg.AccessKeyID != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)
	} else {
		opts.Credentials = aws.AnonymousCredentials{}
	}
	if cfg.HTTPClient != nil {
		opts.HTTPClient = cfg.HTTPClient
	}
	return &S3{cfg: cfg, client: s3.New(opts)}, nil
}

// Client is the underlying SDK client (tests use it to set up buckets).
func (b *S3) Client() *s3.Client { return b.client }

// PutNew implements Objects with a conditional PUT (If-None-Match: *).
func (b *S3) PutNew(ctx context.Context, key string, body []byte, contentType string) error {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(b.cfg.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String(contentType),
		IfNoneMatch:   aws.String("*"),
	}
	if b.cfg.LockMode != "" {
		in.ObjectLockMode = types.ObjectLockMode(b.cfg.LockMode)
		in.ObjectLockRetainUntilDate = aws.Time(b.cfg.Now().Add(b.cfg.LockRetain).UTC().Truncate(time.Second))
		in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256
	}
	_, err := b.client.PutObject(ctx, in)
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || httpStatus(err) == http.StatusPreconditionFailed) {
		return ErrObjectExists
	}
	return fmt.Errorf("export: s3 put %s: %w", key, err)
}

// Get implements Objects.
func (b *S3) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		var nk *types.NoSuchKey
		if errors.As(err, &nk) || httpStatus(err) == http.StatusNotFound {
			return nil, fmt.Errorf("%w: %s", ErrObjectNotFound, key)
		}
		return nil, fmt.Errorf("export: s3 get %s: %w", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("export: s3 get %s: %w", key, err)
	}
	return data, nil
}

// List implements Objects.
func (b *S3) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.cfg.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("export: s3 list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// ParseS3URL splits s3://bucket/prefix.
func ParseS3URL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("export: %q is not an s3://BUCKET[/PREFIX] URL", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, strings.Trim(prefix, "/"), nil
}
