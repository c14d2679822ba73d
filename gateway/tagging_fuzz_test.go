package gateway

import (
	"encoding/xml"
	"net/url"
	"testing"
	"unicode/utf8"
)

// wantValidTags fails unless tags satisfy every rule checkTags applies.
func wantValidTags(t *testing.T, tags []tag, max int) {
	t.Helper()
	if len(tags) > max {
		t.Fatalf("accepted %d tags", len(tags))
	}
	seen := map[string]bool{}
	for _, tg := range tags {
		if tg.Key == "" || seen[tg.Key] || utf8.RuneCountInString(tg.Key) > maxTagKey || utf8.RuneCountInString(tg.Value) > maxTagValue ||
			!validTagText(tg.Key) || !validTagText(tg.Value) {
			t.Fatalf("accepted tag %+q", tg)
		}
		seen[tg.Key] = true
	}
}

// FuzzParseTagging: a Tagging body is refused with a 4xx S3 error or
// parsed into a valid tag set that renders back to the same set.
func FuzzParseTagging(f *testing.F) {
	f.Add([]byte(`<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>`))
	f.Add([]byte(`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet/></Tagging>`))
	f.Add([]byte(`<Tagging><TagSet><Tag><Key>a</Key></Tag><Tag><Key>a</Key></Tag></TagSet></Tagging>`))
	f.Add([]byte(`<Tagging><TagSet><Tag><Key>&#1;</Key><Value>x</Value></Tag></TagSet></Tagging>`))
	f.Add([]byte(`<Tagging/>`))
	f.Add([]byte(`<Other><TagSet/></Other>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tags, err := parseTagging(b, maxObjectTags)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		wantValidTags(t, tags, maxObjectTags)
		out, err := xml.Marshal(taggingDoc(tags))
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseTagging(out, maxObjectTags)
		if err != nil || len(again) != len(tags) {
			t.Fatalf("round trip of %q: %q, %v", tags, again, err)
		}
		for i := range tags {
			if again[i] != tags[i] {
				t.Fatalf("round trip of %q: %q", tags, again)
			}
		}
	})
}

// FuzzParseTagHeader: x-amz-tagging is refused with a 4xx S3 error or
// parsed into a valid tag set whose query encoding parses back the same.
func FuzzParseTagHeader(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "a=1&a=2", "k=v+w&e=", "a=%zz", "=x", "aws:k=1", "%C3%A9=%E2%82%AC", "&&a", "k%00=v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tags, err := parseTagHeader(h)
		if err != nil {
			s3Refusal(t, err)
			return
		}
		wantValidTags(t, tags, maxObjectTags)
		q := ""
		for i, tg := range tags {
			if i > 0 {
				q += "&"
			}
			q += url.QueryEscape(tg.Key) + "=" + url.QueryEscape(tg.Value)
		}
		again, err := parseTagHeader(q)
		if err != nil || len(again) != len(tags) {
			t.Fatalf("round trip of %q: %q, %v", tags, again, err)
		}
		// what GetObjectTagging sends back is the same set
		out, err := xml.Marshal(taggingDoc(tags))
		if err != nil {
			t.Fatal(err)
		}
		fromXML, err := parseTagging(out, maxObjectTags)
		if err != nil || len(fromXML) != len(tags) {
			t.Fatalf("XML round trip of %q: %q, %v", tags, fromXML, err)
		}
		for i := range tags {
			if again[i] != tags[i] || fromXML[i] != tags[i] {
				t.Fatalf("round trip of %q: %q, %q", tags, again, fromXML)
			}
		}
	})
}
