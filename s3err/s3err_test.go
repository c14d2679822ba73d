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

// TestCommonCodes_AsAWSWordsThem pins the status and message of the codes
// clients meet most, as AWS S3 sends them (people search for the text).
func TestCommonCodes_AsAWSWordsThem(t *testing.T) {
	for _, c := range []struct {
		code   Code
		status int
		msg    string
	}{
		{NoSuchUpload, 404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."},
		{InvalidPart, 400, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."},
		{InvalidPartOrder, 400, "The list of parts was not in ascending order. The parts list must be specified in order by part number."},
		{EntityTooSmall, 400, "Your proposed upload is smaller than the minimum allowed object size."},
		{EntityTooLarge, 400, "Your proposed upload exceeds the maximum allowed object size."},
		{InvalidPartNumber, 416, "The requested partnumber is not satisfiable"},
		{InvalidRange, 416, "The requested range is not satisfiable"},
		{NoSuchKey, 404, "The specified key does not exist."},
		{NoSuchBucket, 404, "The specified bucket does not exist"},
		{InvalidDigest, 400, "The Content-MD5 you specified was invalid."},
		{BadDigest, 400, "The Content-MD5 you specified did not match what we received."},
		{MetadataTooLarge, 400, "Your metadata headers exceed the maximum allowed metadata size."},
		{SignatureDoesNotMatch, 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
		{AuthorizationQueryParametersError, 400, ""},
		{PreconditionFailed, 412, "At least one of the pre-conditions you specified did not hold"},
	} {
		if c.code.Status() != c.status || (c.msg != "" && c.code.Message() != c.msg) {
			t.Errorf("%s: %d %q, want %d %q", c.code, c.code.Status(), c.code.Message(), c.status, c.msg)
		}
	}
}
