package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// upBanner is what `tnv up` prints once the cluster serves.
type upBanner struct {
	DB, Endpoint, Region string
	Creds                credentials
	// Generated: the credentials were made at this start, so the secret
	// is printed (this once). Given: they came from flags, environment or
	// a file, which the user has. Else they were read from CredsFile.
	Generated, Given bool
	CredsFile        string
	// ClusterSecret says where the TNV cluster secret is (its file, or
	// "given"), never the secret itself.
	ClusterSecret string
}

// statusLinkTTL is how long the printed status page link works: a
// presigned URL's longest life in S3.
const statusLinkTTL = 7 * 24 * time.Hour

// printUp prints the endpoint, the keys and a command to try. The secret
// appears only when it was generated at this start: a terminal's scrollback
// and a service manager's journal keep what is printed at every start.
func printUp(w io.Writer, b upBanner) {
	secret, trySecret := "", "<secret key>"
	switch {
	case b.Generated:
		secret = b.Creds.SecretKey + "\n                (generated now, kept in " + b.CredsFile + " (mode 0600); not shown again)"
		trySecret = b.Creds.SecretKey
	case b.Given:
		secret = "(as given: --secret-key, --secret-key-file or $TNV_SECRET_KEY)"
	default:
		secret = "(kept in " + b.CredsFile + ", shown at the first start only)"
	}
	status := b.Endpoint + "/_tnv/status"
	if u, err := presignGet(status, b.Creds, b.Region, statusLinkTTL); err == nil {
		status = u + "\n                (signed by the root key, works for 7 days)"
	}
	fmt.Fprintf(w, `TNV-S3 is up: %d groups x %d mirrored storage nodes, metadata in %s
  S3 endpoint:  %s
  Access key:   %s
  Secret key:   %s
  Region:       %s
  Status page:  %s
  TNV secret:   %s (tnv client/admin: --cluster-secret-file)

Try it:
  AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=%s \
    aws --endpoint-url %s s3 mb s3://my-bucket

Ctrl-C stops the cluster; starting again with the same --data finds everything.
`, upGroups, upMembers, b.DB, b.Endpoint, b.Creds.AccessKey, secret, b.Region, status, b.ClusterSecret,
		b.Creds.AccessKey, trySecret, b.Region, b.Endpoint)
}

// presignGet returns url presigned (SigV4, query string) for a GET by
// creds, valid for ttl: a link a browser can open.
func presignGet(url string, creds credentials, region string, ttl time.Duration) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", fmt.Sprint(int(ttl.Seconds())))
	req.URL.RawQuery = q.Encode()
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: creds.AccessKey, SecretAccessKey: creds.SecretKey},
		req, "UNSIGNED-PAYLOAD", "s3", region, time.Now())
	return signed, err
}
