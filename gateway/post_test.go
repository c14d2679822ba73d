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
	"io"
	"mime/multipart"
	"net/http"
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
