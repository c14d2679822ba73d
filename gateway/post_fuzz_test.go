package gateway

import (
	"bytes"
	"io"
	"mime/multipart"
	"strings"
	"testing"
	"time"
)

// FuzzPostPolicy: a policy document is refused with a 4xx S3 error or
// parsed into conditions of the three known operations, which a form is
// then checked against without panicking, the answer again a 4xx S3 error
// or a size range within S3's.
func FuzzPostPolicy(f *testing.F) {
	f.Add([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"bucket": "b"}, ["starts-with", "$key", "user/"], ["content-length-range", 1, 10485760]]}`))
	f.Add([]byte(`{"expiration": "2030-01-01T00:00:00.000Z", "conditions": [["eq", "$Content-Type", "image/png"], {"x-amz-meta-a": "1"}, ["content-length-range", "5", "10"]]}`))
	f.Add([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["StArTs-WiTh", "$KeY", ""], ["content-length-range", "x", 1]]}`))
	f.Add([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{}]}`))
	f.Add([]byte(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 0, 512.0]]}`))
	f.Add([]byte(`{"EXPIRATION": "x", "conditions": []}`))
	f.Add([]byte(`{"expiration": 5}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePolicyJSON(b)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		for _, c := range p.conds {
			switch c.op {
			case "eq", "starts-with", "content-length-range":
			default:
				t.Fatalf("condition %+v", c)
			}
		}
		form := &postForm{fields: map[string][]string{"key": {"user/a"}, "content-type": {"image/png,image/gif"}}, names: []string{"key", "Content-Type"}}
		lo, hi, err := p.check(form, "b", time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			s3Refusal(t, err)
			return
		}
		if lo < 0 || hi > MaxPutSize {
			t.Fatalf("size range %d..%d", lo, hi)
		}
	})
}

// FuzzPostForm: any body is read as a form up to its file part, or refused
// with a 4xx S3 error; what is kept stays within S3's 20 KB, and the file
// part, when found, reads to its end.
func FuzzPostForm(f *testing.F) {
	f.Add(fuzzForm([]field{{"key", "a/${filename}"}, {"policy", "e30="}, {"x-amz-meta-a", "1"}}, "x.txt", []byte("file"), field{"submit", "go"}))
	f.Add(fuzzForm([]field{{"key", "k"}}, "-", []byte("")))
	f.Add(fuzzForm([]field{{"key", strings.Repeat("k", 30000)}}, "x", []byte("y")))
	f.Add(fuzzForm([]field{{"Key", "k"}, {"key", "k2"}}, "", nil))
	f.Add([]byte("--" + fuzzBoundary + "\r\nContent-Disposition: file; name=\"file\"\r\n\r\nx\r\n--" + fuzzBoundary + "--\r\n"))
	f.Add([]byte("--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\a\\b.png\"\r\n\r\nx\r\n--" + fuzzBoundary + "--\r\n"))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, body []byte) {
		lim := &preDataLimit{r: bytes.NewReader(body), limit: maxPostPreData + preDataSlack}
		form, err := readPostForm(multipart.NewReader(lim, fuzzBoundary))
		if err != nil {
			s3Refusal(t, err)
			return
		}
		if form.size > maxPostPreData || lim.n > maxPostPreData+preDataSlack {
			t.Fatalf("kept %d bytes of fields, read %d", form.size, lim.n)
		}
		if strings.ContainsAny(form.filename, `/\`) {
			t.Fatalf("filename %q keeps a directory", form.filename)
		}
		lim.limit = 0
		if _, err := io.Copy(io.Discard, form.file); err != nil {
			if e := toS3Error(formError(err)); e.Status < 400 || e.Status >= 500 {
				t.Fatalf("file part's end %v answered %d", err, e.Status)
			}
		}
	})
}

// fuzzForm is formBody with fuzzBoundary.
func fuzzForm(fields []field, filename string, file []byte, after ...field) []byte {
	ct, b := formBody(fields, filename, file, after...)
	old := ct[strings.Index(ct, "boundary=")+len("boundary="):]
	return bytes.ReplaceAll(b, []byte(old), []byte(fuzzBoundary))
}

// fuzzBoundary is the boundary the form fuzzer's bodies use.
const fuzzBoundary = "pfuzzboundary"
