package main

import (
	"flag"

	"github.com/audittrail/audittrail/internal/export"
)

// s3Flags address an S3-compatible server from the command line; the
// credentials come from the standard AWS environment variables.
type s3Flags struct {
	endpoint, region string
	pathStyle        bool
}

func (f *s3Flags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoint, "s3-endpoint", "", "S3 server URL (default: AWS for --s3-region)")
	fs.StringVar(&f.region, "s3-region", "us-east-1", "S3 region")
	fs.BoolVar(&f.pathStyle, "s3-path-style", false, "address the bucket in the URL path (most self-hosted S3 servers)")
}

// objects opens the bucket with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// and AWS_SESSION_TOKEN (none: anonymous).
func (f *s3Flags) objects(bucket string, getenv func(string) string) (*export.S3, error) {
	return export.NewS3(export.S3Config{Bucket: bucket, Endpoint: f.endpoint, Region: f.region, PathStyle: f.pathStyle,
		AccessKeyID: getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"), SessionToken: getenv("AWS_SESSION_TOKEN")})
}
