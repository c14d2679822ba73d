package gateway

import (
	"bytes"
	"encoding/xml"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

// errDoc is an S3 error document with the extra elements the tests read.
type errDoc struct {
	Code, Message, UploadId, ProposedSize, MinSizeAllowed, PartNumber, ETag string
}

func parseErrDoc(t *testing.T, b []byte) errDoc {
	t.Helper()
	var d errDoc
	if err := xml.Unmarshal(b, &d); err != nil {
		t.Fatalf("error document %q: %v", b, err)
	}
	return d
}

// TestErrors_MultipartAsS3Words: the multipart refusals carry S3's code,
// status and message (and its extra elements), through raw requests and
// both SDKs.
func TestErrors_MultipartAsS3Words(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.mkBucket("errs")
	c := e.root()
	resp, b := e.signed("PUT", "/errs/k?partNumber=1&uploadId=nope", nil, []byte("x"))
	d := parseErrDoc(t, b)
	if resp.StatusCode != 404 || d.Code != "NoSuchUpload" || d.UploadId != "nope" ||
		d.Message != "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed." {
		t.Fatalf("NoSuchUpload: %d %+v", resp.StatusCode, d)
	}
	cr, err := c.CreateMultipartUpload(ctx(), &s3.CreateMultipartUploadInput{Bucket: aws.String("errs"), Key: aws.String("k")})
	must(t, err)
	var done []types.CompletedPart
	for i := 1; i <= 2; i++ {
		up, err := c.UploadPart(ctx(), &s3.UploadPartInput{Bucket: aws.String("errs"), Key: aws.String("k"), UploadId: cr.UploadId,
			PartNumber: aws.Int32(int32(i)), Body: bytes.NewReader([]byte("small"))})
		must(t, err)
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i)), ETag: up.ETag})
	}
	complete := func(body string) errDoc {
		t.Helper()
		resp, b := e.signed("POST", "/errs/k?uploadId="+*cr.UploadId, nil, []byte(body))
		d := parseErrDoc(t, b)
		if resp.StatusCode != 400 {
			t.Fatalf("%s: %d %+v", body, resp.StatusCode, d)
		}
		return d
	}
	part := func(n int, etag string) string {
		return "<Part><PartNumber>" + string(rune('0'+n)) + "</PartNumber><ETag>" + etag + "</ETag></Part>"
	}
	d = complete("<CompleteMultipartUpload>" + part(1, `"0000"`) + "</CompleteMultipartUpload>")
	if d.Code != "InvalidPart" || d.Message != "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag." {
		t.Fatalf("InvalidPart: %+v", d)
	}
	d = complete("<CompleteMultipartUpload>" + part(2, *done[1].ETag) + part(1, *done[0].ETag) + "</CompleteMultipartUpload>")
	if d.Code != "InvalidPartOrder" || d.Message != "The list of parts was not in ascending order. The parts list must be specified in order by part number." {
		t.Fatalf("InvalidPartOrder: %+v", d)
	}
	d = complete("<CompleteMultipartUpload>" + part(1, *done[0].ETag) + part(2, *done[1].ETag) + "</CompleteMultipartUpload>")
	if d.Code != "EntityTooSmall" || d.Message != "Your proposed upload is smaller than the minimum allowed object size." ||
		d.ProposedSize != "5" || d.MinSizeAllowed != "5242880" || d.PartNumber != "1" || `"`+d.ETag+`"` != *done[0].ETag {
		t.Fatalf("EntityTooSmall: %+v", d)
	}
	_, err = c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("errs"), Key: aws.String("k"), UploadId: aws.String("gone"),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	wantCode(t, err, "NoSuchUpload")
	mc := e.minio(rootAK, rootSK)
	_, err = mc.StatObject(ctx(), "errs", "none", minio.StatObjectOptions{})
	if minio.ToErrorResponse(err).StatusCode != 404 {
		t.Fatalf("minio-go StatObject of a missing key: %v", err)
	}
	_, err = mc.GetObjectAttributes(ctx(), "errs", "none", minio.ObjectAttributesOptions{})
	if r := minio.ToErrorResponse(err); r.Code != "NoSuchKey" || r.Message != "The specified key does not exist." {
		t.Fatalf("minio-go GetObjectAttributes of a missing key: %+v", r)
	}
}

// TestErrors_Presign: X-Amz-Expires out of range is 400
// AuthorizationQueryParametersError with S3's messages; a malformed
// signature is 403 SignatureDoesNotMatch, as any wrong one.
func TestErrors_Presign(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.mkBucket("pres")
	e.put("pres", "k", []byte("v"))
	p, err := s3.NewPresignClient(e.root()).PresignGetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("pres"), Key: aws.String("k")})
	must(t, err)
	u, err := url.Parse(p.URL)
	must(t, err)
	with := func(k, v string) string {
		q := u.Query()
		q.Set(k, v)
		c := *u
		c.RawQuery = q.Encode()
		return c.String()
	}
	for _, tc := range []struct {
		k, v, code, msg string
		status          int
	}{
		{"X-Amz-Expires", "604801", "AuthorizationQueryParametersError", "X-Amz-Expires must be less than a week (in seconds) that is 604800", 400},
		{"X-Amz-Expires", "-1", "AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative", 400},
		{"X-Amz-Signature", "not-hex", "SignatureDoesNotMatch", "", 403},
		{"X-Amz-Signature", strings.Repeat("0", 64), "SignatureDoesNotMatch", "", 403},
	} {
		resp, b := e.do("GET", with(tc.k, tc.v), nil, nil)
		d := parseErrDoc(t, b)
		if resp.StatusCode != tc.status || d.Code != tc.code || (tc.msg != "" && d.Message != tc.msg) {
			t.Fatalf("%s=%s: %d %+v", tc.k, tc.v, resp.StatusCode, d)
		}
	}
}

// TestCompleteLocation_Absolute: CompleteMultipartUpload's Location is the
// object's absolute URL as the client addressed it: path style, virtual
// host, and behind a trusted proxy its forwarded scheme and host.
func TestCompleteLocation_Absolute(t *testing.T) {
	e := newEnv(t, envOpt{memory: true, domain: "s3.test", trustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	e.mkBucket("loc")
	c := e.root()
	completeLoc := func(c *s3.Client, key string) string {
		t.Helper()
		id, done := mpu(t, c, &s3.CreateMultipartUploadInput{Bucket: aws.String("loc"), Key: aws.String(key)}, "", []byte("x"))
		out, err := c.CompleteMultipartUpload(ctx(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("loc"), Key: aws.String(key), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
		must(t, err)
		return aws.ToString(out.Location)
	}
	if got, want := completeLoc(c, "a b/c"), e.endpoint+"/loc/a%20b/c"; got != want {
		t.Fatalf("path style: %q, want %q", got, want)
	}
	port := e.endpoint[strings.LastIndex(e.endpoint, ":"):]
	vc := s3.New(s3.Options{Region: region, BaseEndpoint: aws.String("http://s3.test" + port), Credentials: c.Options().Credentials, HTTPClient: e.vhostHTTP()})
	if got, want := completeLoc(vc, "v"), "http://loc.s3.test"+port+"/v"; got != want {
		t.Fatalf("virtual host: %q, want %q", got, want)
	}
	// a proxy in front: what it forwards names the client's URL
	id, done := mpu(t, c, &s3.CreateMultipartUploadInput{Bucket: aws.String("loc"), Key: aws.String("p")}, "", []byte("x"))
	body := "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + *done[0].ETag + "</ETag></Part></CompleteMultipartUpload>"
	resp, b := e.signed("POST", "/loc/p?uploadId="+*id, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "media.example.com"}, []byte(body))
	var res struct{ Location string }
	xml.Unmarshal(b, &res)
	if resp.StatusCode != 200 || res.Location != "https://media.example.com/loc/p" {
		t.Fatalf("behind a trusted proxy: %d %s", resp.StatusCode, b)
	}
	id, done = mpu(t, c, &s3.CreateMultipartUploadInput{Bucket: aws.String("loc"), Key: aws.String("f")}, "", []byte("x"))
	body = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + *done[0].ETag + "</ETag></Part></CompleteMultipartUpload>"
	resp, b = e.signed("POST", "/loc/f?uploadId="+*id, map[string]string{"Forwarded": `for=192.0.2.1;proto=https;host="cdn.example.org:8443"`}, []byte(body))
	xml.Unmarshal(b, &res)
	if resp.StatusCode != 200 || res.Location != "https://cdn.example.org:8443/loc/f" {
		t.Fatalf("Forwarded from a trusted proxy: %d %s", resp.StatusCode, b)
	}

	// from a client that is no trusted proxy the headers prove nothing;
	// over TLS the scheme is https
	e2 := newEnv(t, envOpt{memory: true, tls: true})
	e2.mkBucket("loc")
	id, done = mpu(t, e2.root(), &s3.CreateMultipartUploadInput{Bucket: aws.String("loc"), Key: aws.String("p")}, "", []byte("x"))
	body = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + *done[0].ETag + "</ETag></Part></CompleteMultipartUpload>"
	resp, b = e2.signed("POST", "/loc/p?uploadId="+*id, map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}, []byte(body))
	xml.Unmarshal(b, &res)
	if resp.StatusCode != 200 || res.Location != e2.endpoint+"/loc/p" {
		t.Fatalf("forwarding headers from an untrusted client: %d %s", resp.StatusCode, b)
	}
}

// TestCopyObject_RequestHeadersChecked: a CopyObject that keeps the
// source's metadata (COPY) still refuses metadata over 2 KB and object
// lock or encryption headers, as PutObject does.
func TestCopyObject_RequestHeadersChecked(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.mkBucket("cpy")
	e.put("cpy", "src", []byte("v"))
	c := e.root()
	big := map[string]string{"a": strings.Repeat("x", 2100)}
	_, err := c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("cpy"), Key: aws.String("dst"), CopySource: aws.String("cpy/src"), Metadata: big})
	wantCode(t, err, "MetadataTooLarge")
	_, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("cpy"), Key: aws.String("dst"), Body: bytes.NewReader(nil), Metadata: big})
	wantCode(t, err, "MetadataTooLarge")
	// Object-lock headers on a bucket without object lock, and SSE-S3 on a
	// gateway without a master key, are refused as on PutObject, whatever
	// the directive.
	for _, tc := range []struct {
		in   *s3.CopyObjectInput
		code string
	}{
		{&s3.CopyObjectInput{ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(time.Hour))}, "InvalidRequest"},
		{&s3.CopyObjectInput{ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn}, "InvalidRequest"},
		{&s3.CopyObjectInput{ServerSideEncryption: types.ServerSideEncryptionAes256}, "NotImplemented"},
	} {
		in := tc.in
		in.Bucket, in.Key, in.CopySource = aws.String("cpy"), aws.String("dst"), aws.String("cpy/src")
		_, err = c.CopyObject(ctx(), in)
		wantCode(t, err, tc.code)
	}
	_, err = c.HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("cpy"), Key: aws.String("dst")})
	wantCode(t, err, "NotFound")
	_, err = c.CopyObject(ctx(), &s3.CopyObjectInput{Bucket: aws.String("cpy"), Key: aws.String("dst"), CopySource: aws.String("cpy/src"),
		Metadata: map[string]string{"a": "small"}})
	must(t, err)
}
