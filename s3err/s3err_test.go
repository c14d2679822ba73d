package s3err

import (
	"encoding/json"
	"encoding/xml"
	"testing"
)

func TestEveryCodeHasStatusAndMessage(t *testing.T) {
	seen := map[string]Code{}
	for _, c := range Codes() {
		e := table[c]
		if e.name == "" || e.msg == "" || e.status < 300 || e.status > 599 {
			t.Errorf("code %d: name %q status %d message %q: every code needs all three", c, e.name, e.status, e.msg)
		}
		if prev, dup := seen[e.name]; dup {
			t.Errorf("codes %d and %d share the name %q", prev, c, e.name)
		}
		seen[e.name] = c
	}
	if len(seen) != int(numCodes)-1 {
		t.Errorf("%d names for %d codes", len(seen), numCodes-1)
	}
}

func TestCodeSpelling(t *testing.T) {
	for _, tc := range []struct {
		code   Code
		name   string
		status int
	}{
		{NoSuchKey, "NoSuchKey", 404},
		{InvalidAccessKeyID, "InvalidAccessKeyId", 403},
		{MissingContentLength, "MissingContentLength", 411},
		{NotModified, "NotModified", 304},
		{InternalError, "InternalError", 500},
	} {
		if tc.code.String() != tc.name || tc.code.Status() != tc.status {
			t.Errorf("%v: got %q %d, want %q %d", tc.code, tc.code.String(), tc.code.Status(), tc.name, tc.status)
		}
	}
}

func TestCodeOutsideTable_ReadsAsInternalError(t *testing.T) {
	for _, c := range []Code{0, numCodes, 255} {
		if c.Status() != 500 || c.Message() != InternalError.Message() {
			t.Errorf("Code(%d): status %d message %q, want InternalError's", c, c.Status(), c.Message())
		}
		if c.String() == "" {
			t.Errorf("Code(%d) has an empty name", c)
		}
	}
}

func TestCodeMarshalsAsName(t *testing.T) {
	b, err := xml.Marshal(struct {
		XMLName xml.Name `xml:"Error"`
		Code    Code
	}{Code: NoSuchBucket})
	if err != nil || string(b) != "<Error><Code>NoSuchBucket</Code></Error>" {
		t.Errorf("xml: %s %v", b, err)
	}
	j, err := json.Marshal(map[string]Code{"code": BadDigest})
	if err != nil || string(j) != `{"code":"BadDigest"}` {
		t.Errorf("json: %s %v", j, err)
	}
}
