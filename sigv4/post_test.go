package sigv4

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tnv-s3/tnv/s3err"
)

// The two published POST signatures: AWS's SigV4 POST example
// (sigv4-post-example, a policy with CRLF line ends) and botocore's
// generate_presigned_post at a fixed clock (2015-12-29T00:00:00Z), both
// with AWS's example credentials.
const (
	exampleAK = "AKIAIOSFODNN7EXAMPLE"
	exampleSK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var awsExamplePolicy = strings.Join([]string{
	`{ "expiration": "2015-12-30T12:00:00.000Z",`,
	`  "conditions": [`,
	`    {"bucket": "sigv4examplebucket"},`,
	`    ["starts-with", "$key", "user/user1/"],`,
	`    {"acl": "public-read"},`,
	`    {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},`,
	`    ["starts-with", "$Content-Type", "image/"],`,
	`    {"x-amz-meta-uuid": "14365123651274"},`,
	`    {"x-amz-server-side-encryption": "AES256"},`,
	`    ["starts-with", "$x-amz-meta-tag", ""],`,
	``,
	`    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},`,
	`    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},`,
	`    {"x-amz-date": "20151229T000000Z" }`,
	`  ]`,
	`}`,
}, "\r\n")

const botocorePolicy = `{"expiration": "2015-12-29T01:00:00Z", "conditions": [{"bucket": "sigv4examplebucket"}, {"key": "user/user1/photo.jpg"}, {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"}, {"x-amz-date": "20151229T000000Z"}]}`

func fields(kv ...string) PostField {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[strings.ToLower(kv[i])] = kv[i+1]
	}
	return func(name string) (string, bool) {
		v, ok := m[strings.ToLower(name)]
		return v, ok
	}
}

func TestVerifyPost_PublishedVectors(t *testing.T) {
	v := &Verifier{Credentials: StaticCredentials{exampleAK: exampleSK}}
	for _, c := range []struct{ name, policy, date, sig string }{
		{"AWSExample", awsExamplePolicy, "20151229T000000Z", "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"},
		{"Botocore", botocorePolicy, "20151229T000000Z", "3364624b39010d9b06f5d9b8c9a18a6e478d261c048159c92f2fd6fa885f14e6"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b64 := base64.StdEncoding.EncodeToString([]byte(c.policy))
			res, err := v.VerifyPost(fields("X-Amz-Algorithm", "AWS4-HMAC-SHA256", "X-Amz-Credential", exampleAK+"/20151229/us-east-1/s3/aws4_request",
				"X-Amz-Date", c.date, "Policy", b64, "X-Amz-Signature", c.sig))
			if err != nil || res.Anonymous || res.AccessKey != exampleAK || res.Kind != AuthV4Post {
				t.Fatalf("%+v, %v", res, err)
			}
			// one character of the policy changed: refused, with the policy as StringToSign
			bad := b64[:len(b64)-2] + "=="
			_, err = v.VerifyPost(fields("x-amz-algorithm", "AWS4-HMAC-SHA256", "x-amz-credential", exampleAK+"/20151229/us-east-1/s3/aws4_request",
				"x-amz-date", c.date, "policy", bad, "x-amz-signature", c.sig))
			e, ok := err.(*Error)
			if !ok || e.Code != s3err.SignatureDoesNotMatch || e.Extra[1].Value != bad {
				t.Fatalf("tampered policy: %v", err)
			}
		})
	}
}

func TestVerifyPost_Refusals(t *testing.T) {
	v := &Verifier{Credentials: StaticCredentials{exampleAK: exampleSK}}
	cred := exampleAK + "/20151229/us-east-1/s3/aws4_request"
	for _, c := range []struct {
		name string
		f    PostField
		code s3err.Code
		arg  string
	}{
		{"MissingSignature", fields("x-amz-algorithm", "AWS4-HMAC-SHA256", "x-amz-credential", cred, "x-amz-date", "20151229T000000Z", "policy", "e30="), s3err.InvalidArgument, "X-Amz-Signature"},
		{"MissingAlgorithm", fields("x-amz-credential", cred, "x-amz-date", "20151229T000000Z", "policy", "e30=", "x-amz-signature", "00"), s3err.InvalidArgument, "X-Amz-Algorithm"},
		{"MissingPolicy", fields("x-amz-algorithm", "AWS4-HMAC-SHA256", "x-amz-credential", cred, "x-amz-date", "20151229T000000Z", "x-amz-signature", "00"), s3err.InvalidArgument, "Policy"},
		{"OtherAlgorithm", fields("x-amz-algorithm", "AWS4-ECDSA-P256-SHA256", "x-amz-credential", cred, "x-amz-date", "20151229T000000Z", "policy", "e30=", "x-amz-signature", "00"), s3err.InvalidArgument, "X-Amz-Algorithm"},
		{"BadCredential", fields("x-amz-algorithm", "AWS4-HMAC-SHA256", "x-amz-credential", "AK/2015/us-east-1/s3", "x-amz-date", "20151229T000000Z", "policy", "e30=", "x-amz-signature", "00"), s3err.InvalidArgument, "X-Amz-Credential"},
		{"BadDate", fields("x-amz-algorithm", "AWS4-HMAC-SHA256", "x-amz-credential", cred, "x-amz-date", "2015-12-29", "policy", "e30=", "x-amz-signature", "00"), s3err.InvalidArgument, "X-Amz-Date"},
		{"UnknownKey", fields("x-amz-algorithm", "AWS4-HMAC-SHA256", "x-amz-credential", "NOBODY/20151229/us-east-1/s3/aws4_request", "x-amz-date", "20151229T000000Z", "policy", "e30=", "x-amz-signature", "00"), s3err.InvalidAccessKeyID, ""},
		{"V2MissingSignature", fields("AWSAccessKeyId", exampleAK, "policy", "e30="), s3err.InvalidArgument, "Signature"},
		{"V2BadSignature", fields("AWSAccessKeyId", exampleAK, "policy", "e30=", "signature", "AAAA"), s3err.SignatureDoesNotMatch, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.VerifyPost(c.f)
			e, ok := err.(*Error)
			if !ok || e.Code != c.code {
				t.Fatalf("%v, want %s", err, c.code)
			}
			if c.arg != "" && (len(e.Extra) == 0 || e.Extra[0].Name != "ArgumentName" || e.Extra[0].Value != c.arg) {
				t.Fatalf("extra %+v, want ArgumentName %s", e.Extra, c.arg)
			}
		})
	}
	// No signature fields: anonymous, policy or not.
	res, err := v.VerifyPost(fields("key", "k", "policy", "e30="))
	if err != nil || !res.Anonymous {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestVerifyPost_SigV2(t *testing.T) {
	v := &Verifier{Credentials: StaticCredentials{exampleAK: exampleSK}}
	policy := base64.StdEncoding.EncodeToString([]byte(botocorePolicy))
	// base64(HMAC-SHA1(secret, policy)), computed independently with
	// Python's hmac module for this policy and secret
	res, err := v.VerifyPost(fields("awsaccesskeyid", exampleAK, "Policy", policy, "Signature", "qZqKDGwdd0KvzWNyBFF6I+V5h78="))
	if err != nil || res.Kind != AuthV2Post || res.AccessKey != exampleAK {
		t.Fatalf("%+v %v", res, err)
	}
}
