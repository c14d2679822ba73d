package sigv4_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/sigv4"
)

// The gateway's side: fill a Request from what arrived, verify it, then
// read the body through NewBodyReader and keep the object only if the
// reader ended in io.EOF.
func Example() {
	req := &sigv4.Request{
		Method: "GET",
		Path:   "/test.txt",
		Host:   "examplebucket.s3.amazonaws.com",
		Header: http.Header{
			"Range":                {"bytes=0-9"},
			"X-Amz-Date":           {"20130524T000000Z"},
			"X-Amz-Content-Sha256": {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
			"Authorization": {"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
				"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
				"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
		},
	}
	creds := sigv4.StaticCredentials{"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	res, err := sigv4.Verify(req, creds, time.Date(2013, 5, 24, 0, 1, 0, 0, time.UTC))
	if err != nil {
		fmt.Println(err) // an *sigv4.Error: render Code, Message as S3 XML with Status
		return
	}
	body, err := sigv4.NewBodyReader(res, req.Header, strings.NewReader(""))
	if err != nil {
		fmt.Println(err)
		return
	}
	n, err := io.Copy(io.Discard, body)
	fmt.Println(res.Kind, res.AccessKey, n, err)
	// Output: v4-header AKIAIOSFODNN7EXAMPLE 0 <nil>
}
