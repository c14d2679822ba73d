package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/tnv-s3/tnv/sigv4"
)

// field is one form field, in the order it is sent.
type field struct{ name, value string }

// policyOf encodes a POST policy expiring at exp with conds.
func policyOf(exp time.Time, conds ...any) string {
	b, err := json.Marshal(map[string]any{"expiration": exp.UTC().Format("2006-01-02T15:04:05.000Z"), "conditions": conds})
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// v4Fields signs a policy (SigV4) and returns the form's signature fields;
// conds gets the conditions on them added first.
func v4Fields(ak, sk string, now time.Time, exp time.Time, conds ...any) []field {
	date := now.UTC().Format("20060102T150405Z")
	cred := ak + "/" + date[:8] + "/" + region + "/s3/aws4_request"
	conds = append(conds, map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"x-amz-credential": cred}, map[string]string{"x-amz-date": date})
	policy := policyOf(exp, conds...)
	m := hmac.New(sha256.New, sigv4.SigningKey(sk, date[:8], region, "s3"))
	m.Write([]byte(policy))
	return []field{{"x-amz-algorithm", "AWS4-HMAC-SHA256"}, {"x-amz-credential", cred}, {"x-amz-date", date},
		{"policy", policy}, {"x-amz-signature", hex.EncodeToString(m.Sum(nil))}}
}

// v2Fields signs a policy with SigV2.
func v2Fields(ak, sk string, exp time.Time, conds ...any) []field {
	policy := policyOf(exp, conds...)
	m := hmac.New(sha1.New, []byte(sk))
	m.Write([]byte(policy))
	return []field{{"AWSAccessKeyId", ak}, {"policy", policy}, {"signature", base64.StdEncoding.EncodeToString(m.Sum(nil))}}
}

// formBody builds a multipart/form-data body: fields, then the file part
// (named filename; no filename parameter when filename is "-"), then after.
func formBody(fields []field, filename string, file []byte, after ...field) (string, []byte) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		w.WriteField(f.name, f.value)
	}
	if file != nil {
		h := map[string][]string{"Content-Disposition": {`form-data; name="file"; filename="` + filename + `"`}, "Content-Type": {"application/octet-stream"}}
		if filename == "-" {
			h["Content-Disposition"] = []string{`form-data; name="file"`}
		}
		p, _ := w.CreatePart(h)
		p.Write(file)
	}
	for _, f := range after {
		w.WriteField(f.name, f.value)
	}
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

// post sends a form to url (the bucket's), without following redirects.
func (e *env) post(url string, fields []field, filename string, file []byte, after ...field) (*http.Response, []byte) {
	e.t.Helper()
	ct, body := formBody(fields, filename, file, after...)
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	must(e.t, err)
	req.Header.Set("Content-Type", ct)
	hc := *e.http
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(e.t, err)
	return resp, b
}

// wantError checks an S3 error answer: status, code and (when given) message.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code, msg string) {
	t.Helper()
	var doc struct{ Code, Message string }
	xml.Unmarshal(body, &doc)
	if resp.StatusCode != status || doc.Code != code || (msg != "" && doc.Message != msg) {
		t.Fatalf("got %d %s %q, want %d %s %q\n%s", resp.StatusCode, doc.Code, doc.Message, status, code, msg, body)
	}
}

func TestPostObject_SigV4AndSigV2Forms(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		e.mkBucket("forms")
		now := time.Now()
		exp := now.Add(time.Hour)
		file := randBytes(70_000)
		// SigV4, 201 with its document; ${filename} in the key; metadata,
		// Content-Type, Cache-Control and tags from the form.
		fields := append([]field{
			{"key", "user/42/${filename}"},
			{"Content-Type", "image/png"},
			{"Cache-Control", "max-age=60"},
			{"x-amz-meta-Owner", "eric"},
			{"tagging", "<Tagging><TagSet><Tag><Key>kind</Key><Value>thumb</Value></Tag></TagSet></Tagging>"},
			{"success_action_status", "201"},
			{"acl", "private"},
		}, v4Fields(rootAK, rootSK, now, exp,
			map[string]string{"bucket": "forms"},
			[]string{"starts-with", "$key", "user/42/"},
			[]string{"starts-with", "$Content-Type", "image/"},
			[]string{"eq", "$cache-control", "max-age=60"},
			[]string{"starts-with", "$x-amz-meta-owner", ""},
			[]string{"starts-with", "$tagging", ""},
			map[string]string{"success_action_status": "201"},
			map[string]string{"acl": "private"},
			[]any{"content-length-range", 1, 1 << 20},
		)...)
		resp, body := e.post(e.endpoint+"/forms", fields, `C:\photos\cat 1.png`, file)
		if resp.StatusCode != 201 {
			t.Fatalf("201 form: %d %s", resp.StatusCode, body)
		}
		var pr struct{ Location, Bucket, Key, ETag string }
		must(t, xml.Unmarshal(body, &pr))
		wantETag := `"` + md5hex(file) + `"`
		if pr.Bucket != "forms" || pr.Key != "user/42/cat 1.png" || pr.ETag != wantETag || resp.Header.Get("ETag") != wantETag ||
			pr.Location != e.endpoint+"/forms/user%2F42%2Fcat%201.png" || resp.Header.Get("Location") != pr.Location {
			t.Fatalf("PostResponse %+v, headers %v", pr, resp.Header)
		}
		h, err := e.root().HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String("user/42/cat 1.png")})
		must(t, err)
		if aws.ToString(h.ContentType) != "image/png" || aws.ToString(h.CacheControl) != "max-age=60" || h.Metadata["owner"] != "eric" ||
			aws.ToString(h.ETag) != wantETag || aws.ToInt32(h.TagCount) != 1 {
			t.Fatalf("stored headers %+v", h)
		}
		if !bytes.Equal(e.get("forms", "user/42/cat 1.png"), file) {
			t.Fatal("stored bytes differ")
		}

		// SigV2, the default 204; field names in any case.
		fields = append([]field{{"Key", "v2/obj"}}, v2Fields(rootAK, rootSK, exp,
			map[string]string{"bucket": "forms"}, []string{"eq", "$key", "v2/obj"})...)
		resp, body = e.post(e.endpoint+"/forms", fields, "x.bin", []byte("sigv2"))
		if resp.StatusCode != 204 || len(body) != 0 || resp.Header.Get("ETag") != `"`+md5hex([]byte("sigv2"))+`"` {
			t.Fatalf("v2 form: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		if string(e.get("forms", "v2/obj")) != "sigv2" {
			t.Fatal("v2 object")
		}

		// success_action_status 200, and a redirect with bucket, key and etag.
		fields = append([]field{{"key", "s200"}, {"success_action_status", "200"}}, v4Fields(rootAK, rootSK, now, exp,
			map[string]string{"bucket": "forms"}, map[string]string{"key": "s200"}, map[string]string{"success_action_status": "200"})...)
		resp, body = e.post(e.endpoint+"/forms", fields, "f", []byte("two hundred"))
		if resp.StatusCode != 200 || len(body) != 0 {
			t.Fatalf("200 form: %d %s", resp.StatusCode, body)
		}
		fields = append([]field{{"key", "a dir/r.txt"}, {"success_action_redirect", "https://app.example/done?x=1"}}, v4Fields(rootAK, rootSK, now, exp,
			map[string]string{"bucket": "forms"}, []string{"starts-with", "$key", "a dir/"},
			[]string{"starts-with", "$success_action_redirect", "https://app.example/"})...)
		resp, body = e.post(e.endpoint+"/forms", fields, "r.txt", []byte("redirected"))
		want := "https://app.example/done?x=1&bucket=forms&key=a+dir%2Fr.txt&etag=%22" + md5hex([]byte("redirected")) + "%22"
		if resp.StatusCode != 303 || resp.Header.Get("Location") != want {
			t.Fatalf("redirect: %d %q %s, want %q", resp.StatusCode, resp.Header.Get("Location"), body, want)
		}
		// A form over the object a key holds replaces it.
		fields = append([]field{{"key", "s200"}}, v4Fields(rootAK, rootSK, now, exp,
			map[string]string{"bucket": "forms"}, map[string]string{"key": "s200"})...)
		resp, body = e.post(e.endpoint+"/forms", fields, "f", []byte("replaced"))
		if resp.StatusCode != 204 || string(e.get("forms", "s200")) != "replaced" {
			t.Fatalf("overwrite: %d %s", resp.StatusCode, body)
		}
	})
}

func TestPostObject_Refusals(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("forms")
	e.mkBucket("other")
	must(t, AddUser(ctx(), e.db, "ALICEKEY", "alice-secret-0123456"))
	store := e.store.(*memStore)
	now := time.Now()
	exp := now.Add(time.Hour)
	url := e.endpoint + "/forms"
	base := func(key string, conds ...any) []field {
		return append([]field{{"key", key}}, v4Fields(rootAK, rootSK, now, exp,
			append([]any{map[string]string{"bucket": "forms"}, []string{"starts-with", "$key", ""}}, conds...)...)...)
	}
	raw := func(b64policy string) []field {
		return []field{{"key", "k"}, {"AWSAccessKeyId", rootAK}, {"policy", b64policy}, {"signature", v2sig(rootSK, b64policy)}}
	}
	accessDenied := func(msg string) func(t *testing.T, resp *http.Response, body []byte) {
		return func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 403, "AccessDenied", msg)
		}
	}
	badPolicy := func(msg string) func(t *testing.T, resp *http.Response, body []byte) {
		return func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 400, "InvalidPolicyDocument", "Invalid Policy: "+msg)
		}
	}
	for _, c := range []struct {
		name   string
		fields []field
		file   []byte
		after  []field
		check  func(t *testing.T, resp *http.Response, body []byte)
	}{
		{"Expired", append([]field{{"key", "k"}}, v4Fields(rootAK, rootSK, now, now.Add(-time.Second), map[string]string{"key": "k"})...), []byte("x"), nil,
			accessDenied("Invalid according to Policy: Policy expired.")},
		{"EqFails", base("k", []string{"eq", "$Content-Type", "image/png"}, map[string]string{"content-type": "x"}), []byte("x"), nil,
			accessDenied(`Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "image/png"]`)},
		{"StartsWithFails", append(base("k", []string{"starts-with", "$x-amz-meta-tag", "ab"}), field{"x-amz-meta-tag", "xab"}), []byte("x"), nil,
			accessDenied(`Invalid according to Policy: Policy Condition failed: ["starts-with", "$x-amz-meta-tag", "ab"]`)},
		{"AbsentFieldFailsEvenEmptyPrefix", base("k", []string{"starts-with", "$Content-Type", ""}), []byte("x"), nil,
			accessDenied(`Invalid according to Policy: Policy Condition failed: ["starts-with", "$Content-Type", ""]`)},
		{"ContentTypeListEachEntry", append(base("k", []string{"starts-with", "$Content-Type", "image/"}), field{"Content-Type", "image/jpg,text/plain"}), []byte("x"), nil,
			accessDenied(`Invalid according to Policy: Policy Condition failed: ["starts-with", "$Content-Type", "image/"]`)},
		{"ExtraField", append(base("k"), field{"x-amz-meta-note", "n"}, field{"Content-Disposition", "inline"}), []byte("x"), nil,
			accessDenied("Invalid according to Policy: Extra input fields: x-amz-meta-note, Content-Disposition")},
		{"NoDollar", base("k", []string{"eq", "key", "k"}), []byte("x"), nil,
			accessDenied(`Invalid according to Policy: Policy Condition failed: ["eq", "key", "k"]`)},
		{"WrongBucket", append([]field{{"key", "k"}}, v4Fields(rootAK, rootSK, now, exp, map[string]string{"bucket": "other"}, map[string]string{"key": "k"})...), []byte("x"), nil,
			accessDenied(`Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "other"]`)},
		{"TooLarge", base("k", []any{"content-length-range", 0, 3}), []byte("four"), nil, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
			if !bytes.Contains(body, []byte("<ProposedSize>4</ProposedSize><MaxSizeAllowed>3</MaxSizeAllowed>")) {
				t.Fatalf("sizes: %s", body)
			}
		}},
		{"TooSmall", base("k", []any{"content-length-range", "5", "10"}), []byte("four"), nil, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
			if !bytes.Contains(body, []byte("<ProposedSize>4</ProposedSize><MinSizeAllowed>5</MinSizeAllowed>")) {
				t.Fatalf("sizes: %s", body)
			}
		}},
		{"RangeNotANumber", base("k", []any{"content-length-range", "test", "10"}), []byte("four"), nil,
			accessDenied(`Invalid according to Policy: Policy Condition failed: ["content-length-range", "test", "10"]`)},
		{"MissingKey", v4Fields(rootAK, rootSK, now, exp), []byte("x"), []field{{"key", "after-the-file"}}, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 400, "InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
		}},
		{"NoFile", base("k"), nil, nil, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 400, "InvalidArgument", "POST requires exactly one file upload per request.")
		}},
		{"MissingSignature", base("k")[:5], []byte("x"), nil, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 400, "InvalidArgument", "Bucket POST must contain a field named 'X-Amz-Signature'.  If it is specified, please check the order of the fields.")
		}},
		{"BadSignature", append(base("k")[:5], field{"x-amz-signature", strings.Repeat("0", 64)}), []byte("x"), nil, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 403, "SignatureDoesNotMatch", "")
			if !bytes.Contains(body, []byte("<StringToSignBytes>7b")) && !bytes.Contains(body, []byte("<StringToSignBytes>65 79")) {
				t.Fatalf("no StringToSignBytes: %s", body)
			}
		}},
		{"UnknownKey", append([]field{{"key", "k"}}, v4Fields("NOSUCHKEY", rootSK, now, exp, map[string]string{"key": "k"})...), []byte("x"), nil, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 403, "InvalidAccessKeyId", "")
		}},
		{"V2BadSignature", []field{{"key", "k"}, {"AWSAccessKeyId", rootAK}, {"policy", policyOf(exp)}, {"signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}, []byte("x"), nil, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 403, "SignatureDoesNotMatch", "")
		}},
		{"Anonymous", []field{{"key", "k"}}, []byte("x"), nil, accessDenied("Access Denied")},
		{"NotOwner", append([]field{{"key", "k"}}, v4Fields("ALICEKEY", "alice-secret-0123456", now, exp, map[string]string{"key": "k"}, map[string]string{"bucket": "forms"})...), []byte("x"), nil,
			accessDenied("Access Denied")},
		// New buckets are BucketOwnerEnforced (ACLs off), as on AWS: a form
		// asking for public-read is refused as PutObject's x-amz-acl is.
		{"PublicReadACL", append(base("k", map[string]string{"acl": "public-read"}), field{"acl", "public-read"}), []byte("x"), nil, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 400, "AccessControlListNotSupported", "The bucket does not allow ACLs")
		}},
		{"BogusACL", append(base("k", []string{"starts-with", "$acl", ""}), field{"acl", "everyone"}), []byte("x"), nil, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 400, "InvalidArgument", "The canned ACL everyone is not valid.")
		}},
		{"BadMD5", append(base("k", []string{"starts-with", "$Content-MD5", ""}), field{"Content-MD5", b64md5([]byte("y"))}), []byte("x"), nil, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 400, "BadDigest", "")
		}},
		{"InvalidJSON", raw(base64.StdEncoding.EncodeToString([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [`))), []byte("x"), nil, badPolicy("Invalid JSON.")},
		{"FloatRange", raw(base64.StdEncoding.EncodeToString([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 0, 512.0]]}`))), []byte("x"), nil, badPolicy("Invalid JSON.")},
		{"MissingExpiration", raw(base64.StdEncoding.EncodeToString([]byte(`{"conditions": []}`))), []byte("x"), nil, badPolicy("Policy missing expiration.")},
		{"MissingConditions", raw(base64.StdEncoding.EncodeToString([]byte(`{"expiration": "2030-01-01T00:00:00Z"}`))), []byte("x"), nil, badPolicy("Policy missing conditions.")},
		{"UpperCaseMember", raw(base64.StdEncoding.EncodeToString([]byte(`{"EXPIRATION": "2030-01-01T00:00:00Z", "conditions": []}`))), []byte("x"), nil, badPolicy("Unexpected: 'expiration'.")},
		{"OffsetExpiration", raw(base64.StdEncoding.EncodeToString([]byte(`{"expiration": "2030-01-01T00:00:00+02:00", "conditions": []}`))), []byte("x"), nil, badPolicy("Invalid 'expiration' value: '2030-01-01T00:00:00+02:00'")},
		{"EmptySimpleCondition", raw(base64.StdEncoding.EncodeToString([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{}]}`))), []byte("x"), nil, badPolicy("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")},
		{"NumberSimpleCondition", raw(base64.StdEncoding.EncodeToString([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"key": 5}]}`))), []byte("x"), nil, badPolicy("Invalid Simple-Condition: value must be a string.")},
		{"UnknownOperation", raw(base64.StdEncoding.EncodeToString([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["ends-with", "$key", "k"]]}`))), []byte("x"), nil, badPolicy("Invalid Condition: unknown operation 'ends-with'.")},
		{"NegativeRange", raw(base64.StdEncoding.EncodeToString([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 0]]}`))), []byte("x"), nil, badPolicy("Invalid content-length-range: bounds must not be negative.")},
		{"NotBase64", raw("not base64!"), []byte("x"), nil, badPolicy("invalid Base64 encoding.")},
		{"TooManyFieldsBeforeFile", append(base("k", []string{"starts-with", "$x-amz-meta-big", ""}), field{"x-amz-meta-big", strings.Repeat("b", 21<<10)}), []byte("x"), nil, func(t *testing.T, resp *http.Response, body []byte) {
			wantError(t, resp, body, 400, "MaxPostPreDataLengthExceeded", "")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := store.count()
			resp, body := e.post(url, c.fields, "f.txt", c.file, c.after...)
			c.check(t, resp, body)
			e.waitCollected()
			if n := store.count(); n != before {
				t.Fatalf("%d blobs left behind", n-before)
			}
			if _, err := e.root().HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String("k")}); apiCode(err) != "NotFound" {
				t.Fatalf("object stored after a refusal: %v", err)
			}
		})
	}
	// Not multipart/form-data: 412 with S3's Condition.
	resp, body := e.do("POST", url, map[string]string{"Content-Type": "text/plain"}, []byte("key=k"))
	wantError(t, resp, body, 412, "PreconditionFailed", "")
	if !bytes.Contains(body, []byte("<Condition>Bucket POST must be of the enclosure-type multipart/form-data</Condition>")) {
		t.Fatalf("412 body: %s", body)
	}
	resp, body = e.do("POST", url, map[string]string{"Content-Type": "multipart/form-data"}, []byte("x"))
	wantError(t, resp, body, 400, "MalformedPOSTRequest", "")
}

func v2sig(sk, policy string) string {
	m := hmac.New(sha1.New, []byte(sk))
	m.Write([]byte(policy))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestPostObject_FormRules covers what S3 does with the form itself:
// ${filename} (path stripped; kept literally without a filename
// parameter), x-ignore- fields, fields after the file ignored, case of
// names and condition operators, repeated fields joined by commas.
func TestPostObject_FormRules(t *testing.T) {
	e := newEnv(t, envOpt{memory: true})
	e.mkBucket("forms")
	now := time.Now()
	exp := now.Add(time.Hour)
	post := func(fields []field, filename string, after ...field) {
		t.Helper()
		resp, body := e.post(e.endpoint+"/forms", fields, filename, []byte("data"), after...)
		if resp.StatusCode != 204 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	cond := []any{map[string]string{"bUcKeT": "forms"}, []string{"StArTs-WiTh", "$KeY", "up/"}}
	post(append([]field{{"kEy", "up/${filename}"}, {"x-ignore-foo", "bar"}}, v4Fields(rootAK, rootSK, now, exp, cond...)...), "../dir/a.txt",
		field{"submit", "Upload"}, field{"x-amz-meta-late", "ignored"})
	post(append([]field{{"key", "up/${filename}"}}, v4Fields(rootAK, rootSK, now, exp, cond...)...), "-")
	post(append([]field{{"key", "up/tags"}, {"x-amz-meta-tag", "Ninja"}, {"x-amz-meta-tag", "Stallman"}},
		v4Fields(rootAK, rootSK, now, exp, append(cond, map[string]string{"x-amz-meta-tag": "Ninja,Stallman"})...)...), "t")
	// An unknown success_action_status, and a redirect that is not an
	// absolute http(s) URL, are as if absent: 204.
	post(append([]field{{"key", "up/status"}, {"success_action_status", "404"}, {"success_action_redirect", "/relative/page"}},
		v4Fields(rootAK, rootSK, now, exp, append(cond, []string{"starts-with", "$success_action_status", ""}, []string{"starts-with", "$success_action_redirect", ""})...)...), "s")
	// The older redirect field works as success_action_redirect does.
	resp, body := e.post(e.endpoint+"/forms", append([]field{{"key", "up/old"}, {"redirect", "http://app.test/done"}},
		v4Fields(rootAK, rootSK, now, exp, append(cond, map[string]string{"redirect": "http://app.test/done"})...)...), "o", []byte("data"))
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "http://app.test/done?bucket=forms&key=up%2Fold&etag=%22"+md5hex([]byte("data"))+"%22" {
		t.Fatalf("redirect field: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	for key, check := range map[string]func(h *s3.HeadObjectOutput) bool{
		"up/a.txt":       func(h *s3.HeadObjectOutput) bool { return len(h.Metadata) == 0 },
		"up/${filename}": func(h *s3.HeadObjectOutput) bool { return true },
		"up/tags":        func(h *s3.HeadObjectOutput) bool { return h.Metadata["tag"] == "Ninja,Stallman" },
	} {
		h, err := e.root().HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String(key)})
		if err != nil || !check(h) || aws.ToString(h.ContentType) != "binary/octet-stream" {
			t.Fatalf("%s: %v %+v", key, err, h)
		}
	}
}

// TestPostObject_LargeFileStreams stores files larger than what is read
// whole (postSmall) through blobs of 1 MiB: the bytes, the ETag, the size
// limits found after streaming (nothing left behind), and a form with more
// than postTail after its file.
func TestPostObject_LargeFileStreams(t *testing.T) {
	e := newEnv(t, envOpt{memory: true, blobSize: 1 << 20})
	e.mkBucket("big")
	store := e.store.(*memStore)
	now := time.Now()
	exp := now.Add(time.Hour)
	file := randBytes(3<<20 + 12345)
	form := func(key string, conds ...any) []field {
		return append([]field{{"key", key}}, v4Fields(rootAK, rootSK, now, exp, append(conds, map[string]string{"key": key})...)...)
	}
	resp, body := e.post(e.endpoint+"/big", form("a"), "a", file, field{"submit", "Upload"})
	if resp.StatusCode != 204 || resp.Header.Get("ETag") != `"`+md5hex(file)+`"` {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
	if !bytes.Equal(e.get("big", "a"), file) {
		t.Fatal("bytes differ")
	}
	if n := store.count(); n < 4 {
		t.Fatalf("%d blobs for 3 MiB in 1 MiB blobs", n)
	}
	before := store.count()
	for _, c := range []struct {
		name string
		f    []field
		code string
	}{
		{"OverRangeFoundAtTheEnd", form("b", []any{"content-length-range", 0, len(file) - 1}), "EntityTooLarge"},
		{"OverRangeKnownAtOnce", form("b", []any{"content-length-range", 0, 1 << 20}), "EntityTooLarge"},
		{"UnderRange", form("b", []any{"content-length-range", len(file) + 1, 10 << 20}), "EntityTooSmall"},
	} {
		resp, body := e.post(e.endpoint+"/big", c.f, "b", file)
		wantError(t, resp, body, 400, c.code, "")
	}
	// More than postTail after the file: refused, nothing kept.
	resp, body = e.post(e.endpoint+"/big", form("c"), "c", file, field{"after", strings.Repeat("z", postTail+1)})
	wantError(t, resp, body, 400, "MalformedPOSTRequest", "")
	e.waitCollected()
	if n := store.count(); n != before {
		t.Fatalf("%d blobs left behind", n-before)
	}
}

// TestPostObject_CORSAndVirtualHost posts from another origin to a
// virtual-hosted bucket: the answer carries the bucket's CORS headers
// (here the default rule of --cors-origins).
func TestPostObject_CORSAndVirtualHost(t *testing.T) {
	e := newEnv(t, envOpt{memory: true, domain: "s3.test", corsOrigins: []string{"http://app.test"}})
	e.mkBucket("vhost")
	now := time.Now()
	fields := append([]field{{"key", "k"}, {"success_action_status", "201"}}, v4Fields(rootAK, rootSK, now, now.Add(time.Hour),
		map[string]string{"key": "k"}, map[string]string{"bucket": "vhost"}, map[string]string{"success_action_status": "201"})...)
	ct, body := formBody(fields, "k", []byte("virtual"))
	port := e.endpoint[strings.LastIndex(e.endpoint, ":"):]
	req, _ := http.NewRequest("POST", "http://vhost.s3.test"+port+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Origin", "http://app.test")
	resp, err := e.vhostHTTP().Do(req)
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.test" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "ETag") ||
		!bytes.Contains(b, []byte("<Location>http://vhost.s3.test"+port+"/k</Location>")) {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, b)
	}
	if string(e.get("vhost", "k")) != "virtual" {
		t.Fatal("bytes")
	}
}

// TestPostObject_TruncatedBodyLeavesNothing: a client that sends part of a
// large form's file and hangs up stores no object, and the blobs written
// meanwhile are collected.
func TestPostObject_TruncatedBodyLeavesNothing(t *testing.T) {
	e := newEnv(t, envOpt{memory: true, blobSize: 1 << 20})
	e.mkBucket("cut")
	store := e.store.(*memStore)
	now := time.Now()
	ct, body := formBody(append([]field{{"key", "k"}}, v4Fields(rootAK, rootSK, now, now.Add(time.Hour), map[string]string{"key": "k"})...),
		"k", randBytes(4<<20))
	addr := e.endpoint[len("http://"):]
	conn, err := net.Dial("tcp", addr)
	must(t, err)
	fmt.Fprintf(conn, "POST /cut HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", addr, ct, len(body))
	conn.Write(body[:len(body)*5/8]) // past two whole blobs
	// The gateway stores what arrives; wait until it has a blob, then hang up.
	deadline := time.Now().Add(30 * time.Second)
	for store.count() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if store.count() < 2 {
		t.Fatalf("%d blobs stored from the first 2.5 MiB", store.count())
	}
	conn.Close()
	deadline = time.Now().Add(30 * time.Second)
	for {
		e.waitCollected()
		if store.count() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d blobs left after the client hung up", store.count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := e.root().HeadObject(ctx(), &s3.HeadObjectInput{Bucket: aws.String("cut"), Key: aws.String("k")}); apiCode(err) != "NotFound" {
		t.Fatalf("object after a truncated form: %v", err)
	}
}
