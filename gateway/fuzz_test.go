package gateway

import (
	"errors"
	"testing"

	"github.com/tnv-s3/tnv/s3err"
)

// The XML parsers take whatever a client sends: they must answer with an
// S3 refusal or a valid document, never panic, and what they accept must
// satisfy their rules.

func s3Refusal(t *testing.T, err error) {
	t.Helper()
	var se *s3Error
	if !errors.As(err, &se) || se.Status < 400 || se.Status >= 500 {
		t.Fatalf("not a 4xx S3 refusal: %v", err)
	}
}

func FuzzParseComplete(f *testing.F) {
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>"b"</ETag></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>x</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>2</PartNumber></Part><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload/>`))
	f.Add([]byte(`<Other/>`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseComplete(b)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		if len(req.Part) == 0 || len(req.Part) > 10000 {
			t.Fatalf("accepted %d parts", len(req.Part))
		}
		prev := 0
		for _, p := range req.Part {
			if p.PartNumber <= prev || p.PartNumber > 10000 {
				t.Fatalf("accepted part order %d after %d", p.PartNumber, prev)
			}
			prev = p.PartNumber
		}
	})
}

func FuzzParseDelete(f *testing.F) {
	f.Add([]byte(`<Delete><Object><Key>a</Key></Object><Object><Key>b/c</Key><VersionId>null</VersionId></Object><Quiet>true</Quiet></Delete>`))
	f.Add([]byte(`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>&lt;x&gt;</Key></Object></Delete>`))
	f.Add([]byte(`<Delete><Object></Object></Delete>`))
	f.Add([]byte(`<Delete>`))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Delete><Object><Key>&a;</Key></Object></Delete>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseDelete(b)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		if len(req.Object) == 0 || len(req.Object) > maxDeleteKeys {
			t.Fatalf("accepted %d keys", len(req.Object))
		}
		for _, o := range req.Object {
			if o.Key == "" || len(o.Key) > 1024 {
				t.Fatalf("accepted key %q", o.Key)
			}
		}
	})
}

func FuzzParseCORS(f *testing.F) {
	f.Add([]byte(corsXML))
	f.Add([]byte(`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`))
	f.Add([]byte(`<CORSConfiguration><CORSRule><AllowedOrigin>**</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`))
	f.Add([]byte(`<CORSConfiguration><CORSRule><AllowedOrigin>a</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod><MaxAgeSeconds>-1</MaxAgeSeconds></CORSRule></CORSConfiguration>`))
	f.Add([]byte(`<CORSConfiguration/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCORS(b)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		if len(c.CORSRule) == 0 {
			t.Fatal("accepted no rules")
		}
		for _, r := range c.CORSRule {
			if len(r.AllowedOrigin) == 0 || len(r.AllowedMethod) == 0 {
				t.Fatal("accepted a rule without origin or method")
			}
			// matching never panics on what was accepted
			c.matchRule("https://x.example", "GET", []string{"range"})
		}
	})
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-5", "bytes=5-", "bytes=9-1", "bytes=0-1,2-3", "bytes= 1 - 2", "bytes=-", "bytes=99999999999999999999-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		br, ok, err := parseRange(h, size)
		if err != nil {
			if toS3Error(err).Code != s3err.InvalidRange {
				t.Fatalf("error %v", err)
			}
			return
		}
		if ok && (br.start < 0 || br.n <= 0 || br.start+br.n > size) {
			t.Fatalf("range %+v outside size %d", br, size)
		}
	})
}

func TestSuccessor(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""}, {"a", "b"}, {"a/", "a0"}, {"a\xff", "b"}, {"\xff\xff", ""}, {"ab\xff\xff", "ac"},
	} {
		if got := successor(tc.in); got != tc.want {
			t.Errorf("successor(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
