package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/s3err"
)

// The examples of the S3 Developer Guide, "Signing and Authenticating
// REST Requests" (Signature Version 2).
func TestVerifyV2_AWSDocumentedExamples_Accepted(t *testing.T) {
	at := func(s string) time.Time {
		tm, ok := parseHTTPDate(s)
		if !ok {
			t.Fatal(s)
		}
		return tm
	}
	cases := []struct {
		name string
		req  *Request
		now  string
	}{
		{"ObjectGET", &Request{Method: "GET", Path: "/photos/puppy.jpg", Host: "johnsmith.s3.amazonaws.com", VirtualBucket: "johnsmith",
			Header: hdr("Date", "Tue, 27 Mar 2007 19:36:42 +0000", "Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=")},
			"Tue, 27 Mar 2007 19:36:42 +0000"},
		{"ObjectPUT", &Request{Method: "PUT", Path: "/photos/puppy.jpg", Host: "johnsmith.s3.amazonaws.com", VirtualBucket: "johnsmith",
			Header: hdr("Content-Type", "image/jpeg", "Content-Length", "94328", "Date", "Tue, 27 Mar 2007 21:15:45 +0000",
				"Authorization", "AWS AKIAIOSFODNN7EXAMPLE:MyyxeRY7whkBe+bq8fHCL/2kKUg=")},
			"Tue, 27 Mar 2007 21:15:45 +0000"},
		{"ListWithNonSubresourceQuery", &Request{Method: "GET", Path: "/", RawQuery: "prefix=photos&max-keys=50&marker=puppy",
			Host: "johnsmith.s3.amazonaws.com", VirtualBucket: "johnsmith",
			Header: hdr("User-Agent", "Mozilla/5.0", "Date", "Tue, 27 Mar 2007 19:42:41 +0000",
				"Authorization", "AWS AKIAIOSFODNN7EXAMPLE:htDYFYduRNen8P9ZfE/s9SuKy0U=")},
			"Tue, 27 Mar 2007 19:42:41 +0000"},
		{"FetchACLSubresource", &Request{Method: "GET", Path: "/", RawQuery: "acl", Host: "johnsmith.s3.amazonaws.com", VirtualBucket: "johnsmith",
			Header: hdr("Date", "Tue, 27 Mar 2007 19:44:46 +0000", "Authorization", "AWS AKIAIOSFODNN7EXAMPLE:c2WLPFtWHVgbEmeEG93a4cG37dM=")},
			"Tue, 27 Mar 2007 19:44:46 +0000"},
		{"UploadWithAmzHeadersAndRepeatedMeta", &Request{Method: "PUT", Path: "/db-backup.dat.gz", Host: "static.johnsmith.net:8080",
			VirtualBucket: "static.johnsmith.net",
			Header: hdr("User-Agent", "curl/7.15.5", "Date", "Tue, 27 Mar 2007 21:06:08 +0000",
				"x-amz-acl", "public-read", "content-type", "application/x-download",
				"Content-MD5", "4gJE4saaMU4BqNR0kLY+lw==",
				"X-Amz-Meta-ReviewedBy", "joe@johnsmith.net", "X-Amz-Meta-ReviewedBy", "jane@johnsmith.net",
				"X-Amz-Meta-FileChecksum", "0x02661779", "X-Amz-Meta-ChecksumAlgorithm", "crc32",
				"Content-Disposition", "attachment; filename=database.dat", "Content-Encoding", "gzip",
				"Content-Length", "5913339",
				"Authorization", "AWS AKIAIOSFODNN7EXAMPLE:ilyl83RwaSoYIEdixDQcA4OnAnc=")},
			"Tue, 27 Mar 2007 21:06:08 +0000"},
		{"ListAllMyBuckets", &Request{Method: "GET", Path: "/", Host: "s3.amazonaws.com",
			Header: hdr("Date", "Wed, 28 Mar 2007 01:29:59 +0000", "Authorization", "AWS AKIAIOSFODNN7EXAMPLE:qGdzdERIC03wnaRNKh6OqZehG9s=")},
			"Wed, 28 Mar 2007 01:29:59 +0000"},
		// The path is signed as sent, escapes in their original case.
		{"UnicodeKeysPathAsSent", &Request{Method: "GET", Path: "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re", Host: "s3.amazonaws.com",
			Header: hdr("Date", "Wed, 28 Mar 2007 01:49:49 +0000", "Authorization", "AWS AKIAIOSFODNN7EXAMPLE:DNEZGsoieTZ92F3bUfSPQcbGmlM=")},
			"Wed, 28 Mar 2007 01:49:49 +0000"},
		{"PresignedQuery", &Request{Method: "GET", Path: "/photos/puppy.jpg", Host: "johnsmith.s3.amazonaws.com", VirtualBucket: "johnsmith",
			RawQuery: "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D", Header: http.Header{}},
			"Tue, 27 Mar 2007 19:36:42 +0000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Verify(c.req, docCreds, at(c.now))
			if err != nil {
				t.Fatalf("%v\n%q", err, V2StringToSign(c.req, c.req.Header.Get("Date")))
			}
			if res.AccessKey != docAccessKey || res.Kind != AuthV2Header && res.Kind != AuthV2Presigned {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

// signV2 computes a SigV2 signature from the documented string to sign,
// written out by hand in each test case.
func signV2(secret, sts string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestVerifyV2_StringToSignFromDocumentedRules(t *testing.T) {
	now := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	cases := []struct {
		name string
		req  *Request
		sts  string // what the documentation says is signed
	}{
		{"PathStyleSubresourcesSortedAndDecoded",
			&Request{Method: "GET", Path: "/bkt/a%20b.txt", RawQuery: "versionId=3%2F4&response-content-type=text%2Fplain&x=y&acl",
				Header: hdr("Date", date)},
			"GET\n\n\n" + date + "\n/bkt/a%20b.txt?acl&response-content-type=text/plain&versionId=3/4"},
		{"AmzDateEmptiesDateLine",
			&Request{Method: "DELETE", Path: "/bkt/k", Header: hdr("X-Amz-Date", date, "X-Amz-Meta-A", " v ")},
			"DELETE\n\n\n\nx-amz-date:" + date + "\nx-amz-meta-a:v\n/bkt/k"},
		{"UploadPartQuery",
			&Request{Method: "PUT", Path: "/k", VirtualBucket: "bkt", RawQuery: "uploadId=abc&partNumber=2",
				Header: hdr("Date", date, "Content-Type", "application/octet-stream", "Content-Md5", "1B2M2Y8AsgTpgAmY7PhCfg==")},
			"PUT\n1B2M2Y8AsgTpgAmY7PhCfg==\napplication/octet-stream\n" + date + "\n/bkt/k?partNumber=2&uploadId=abc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.Header.Set("Authorization", "AWS AK:"+signV2("sk", c.sts))
			if _, err := Verify(c.req, StaticCredentials{"AK": "sk"}, now); err != nil {
				t.Fatalf("%v\nours: %q", err, V2StringToSign(c.req, ""))
			}
		})
	}
}

func TestVerifyV2_Refusals(t *testing.T) {
	now := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	sts := "GET\n\n\n" + date + "\n/bkt/k"
	good := func() *Request {
		return &Request{Method: "GET", Path: "/bkt/k", Header: hdr("Date", date, "Authorization", "AWS AK:"+signV2("sk", sts))}
	}
	exp := now.Add(time.Hour).Unix()
	presigned := func(expires int64, sig string) *Request {
		q := url.Values{"AWSAccessKeyId": {"AK"}, "Expires": {itoa(expires)}, "Signature": {sig}}
		return &Request{Method: "GET", Path: "/bkt/k", RawQuery: q.Encode(), Header: http.Header{}}
	}
	cases := []struct {
		name string
		req  *Request
		now  time.Time
		want s3err.Code
	}{
		{"Good", good(), now, noErr},
		{"WrongSecret", &Request{Method: "GET", Path: "/bkt/k", Header: hdr("Date", date, "Authorization", "AWS AK:"+signV2("other", sts))}, now, s3err.SignatureDoesNotMatch},
		{"UnknownKey", &Request{Method: "GET", Path: "/bkt/k", Header: hdr("Date", date, "Authorization", "AWS XX:"+signV2("sk", sts))}, now, s3err.InvalidAccessKeyID},
		{"Skewed", good(), now.Add(16 * time.Minute), s3err.RequestTimeTooSkewed},
		{"NoDate", &Request{Method: "GET", Path: "/bkt/k", Header: hdr("Authorization", "AWS AK:"+signV2("sk", sts))}, now, s3err.AccessDenied},
		{"AddedAmzHeader", func() *Request { r := good(); r.Header.Set("X-Amz-Acl", "public-read"); return r }(), now, s3err.SignatureDoesNotMatch},
		{"MalformedHeader", &Request{Method: "GET", Path: "/", Header: hdr("Date", date, "Authorization", "AWS nocolon")}, now, s3err.InvalidArgument},
		{"PresignedGood", presigned(exp, signV2("sk", "GET\n\n\n"+itoa(exp)+"\n/bkt/k")), now, noErr},
		{"PresignedExpired", presigned(exp, signV2("sk", "GET\n\n\n"+itoa(exp)+"\n/bkt/k")), now.Add(2 * time.Hour), s3err.AccessDenied},
		{"PresignedOtherExpiry", presigned(exp+1, signV2("sk", "GET\n\n\n"+itoa(exp)+"\n/bkt/k")), now, s3err.SignatureDoesNotMatch},
		{"PresignedMissingExpires", &Request{Method: "GET", Path: "/", RawQuery: "AWSAccessKeyId=AK&Signature=x", Header: http.Header{}}, now, s3err.AccessDenied},
		{"SignedStreamingNeedsV4", &Request{Method: "PUT", Path: "/bkt/k", Header: hdr("Date", date,
			"X-Amz-Content-Sha256", StreamingPayload,
			"Authorization", "AWS AK:"+signV2("sk", "PUT\n\n\n"+date+"\nx-amz-content-sha256:"+StreamingPayload+"\n/bkt/k"))},
			now, s3err.InvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(c.req, StaticCredentials{"AK": "sk"}, c.now)
			mustCode(t, err, c.want)
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
