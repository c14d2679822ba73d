package gateway

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/tnv-s3/tnv/gateway/index"
)

// FuzzParseObjectAttributes: x-amz-object-attributes is refused (a 4xx)
// or names at least one attribute; nothing panics.
func FuzzParseObjectAttributes(f *testing.F) {
	for _, s := range []string{"ETag,Checksum", " ObjectParts , StorageClass,ObjectSize", "", ",,", "etag", "ETag,Bogus"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseObjectAttributes(strings.Split(s, "\n"))
		if err != nil {
			s3Refusal(t, err)
			return
		}
		if a == (objectAttributes{}) {
			t.Fatalf("%q accepted with no attribute", s)
		}
	})
}

// FuzzCompleteChecksums: whatever checksums a CompleteMultipartUpload lists
// per part (body) and for the object (x-amz-checksum-* and -type headers),
// the completion of a composite SHA256 upload is refused with a 4xx or
// accepted only when every listed part checksum is the stored one and the
// object's, if given, is right.
func FuzzCompleteChecksums(f *testing.F) {
	partSum := func(s string) string { h := sha256.Sum256([]byte(s)); return base64.StdEncoding.EncodeToString(h[:]) }
	p1, p2 := partSum("one"), partSum("two")
	good := `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e1"</ETag><ChecksumSHA256>` + p1 +
		`</ChecksumSHA256></Part><Part><PartNumber>2</PartNumber><ETag>"e2"</ETag><ChecksumSHA256>` + p2 + `</ChecksumSHA256></Part></CompleteMultipartUpload>`
	f.Add([]byte(good), "x-amz-checksum-sha256", "", "")
	f.Add([]byte(good), "x-amz-checksum-sha256", "bm90IGl0-2", "COMPOSITE")
	f.Add([]byte(good), "x-amz-checksum-crc32", "AAAAAA==", "FULL_OBJECT")
	f.Add([]byte(strings.Replace(good, p2, p1, 1)), "", "", "")
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e1</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>`), "", "", "")
	stored := map[int]*part{1: {Number: 1, ETag: "e1", Size: 3, Checksum: p1}, 2: {Number: 2, ETag: "e2", Size: 3, Checksum: p2}}
	u := &upload{Headers: headers{Checksum: &index.Checksum{Algorithm: "SHA256", Type: checksumComposite}}}
	f.Fuzz(func(t *testing.T, body []byte, hname, hvalue, htype string) {
		req, err := parseComplete(body)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		r := &request{header: http.Header{}}
		if hname != "" && hvalue != "" {
			r.header.Set(hname, hvalue)
		}
		if htype != "" {
			r.header.Set("X-Amz-Checksum-Type", htype)
		}
		want, err := takeCompleteChecksum(r)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		var listed []part
		for _, rp := range req.Part {
			p := stored[rp.PartNumber]
			if p == nil {
				return
			}
			if err := checkCompletePart(u, rp, p); err != nil {
				s3Refusal(t, err)
				return
			}
			if got := strings.TrimSpace(rp.ChecksumSHA256); got != p.Checksum {
				t.Fatalf("part %d accepted with checksum %q, stored %q", p.Number, got, p.Checksum)
			}
			listed = append(listed, *p)
		}
		ck, err := completedChecksum(u, listed, want)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		if ck == nil || ck.Type != checksumComposite || ck.Algorithm != "SHA256" {
			t.Fatalf("completed with checksum %+v", ck)
		}
		if want.alg != nil {
			v, _, _ := strings.Cut(want.value, "-")
			if v != ck.Value {
				t.Fatalf("accepted x-amz-checksum %q for %q", want.value, ck.Value)
			}
		}
	})
}
