package lifecycle

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzParse: a body is refused with an S3 client error (or NotImplemented
// for transitions), or it parses into 1..1000 rules with unique IDs whose
// stored document parses again to the same document and rules.
func FuzzParse(f *testing.F) {
	f.Add([]byte(doc(rule("a", "", days1))))
	f.Add([]byte(doc(rule("a", "<And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag><ObjectSizeLessThan>9</ObjectSizeLessThan></And>",
		"<Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>"))))
	f.Add([]byte(doc("<Rule><Prefix>x</Prefix><Status>Disabled</Status><NoncurrentVersionExpiration><NoncurrentDays>4</NoncurrentDays></NoncurrentVersionExpiration></Rule>")))
	f.Add([]byte(doc(rule("m", "", "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"))))
	f.Add([]byte(doc(rule("t", "", "<Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>"))))
	f.Add([]byte(`<LifecycleConfiguration><Rule><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			var le *Error
			if !errors.As(err, &le) {
				t.Fatalf("refusal %v is not an *Error", err)
			}
			if s := le.Code.Status(); (s < 400 || s > 499) && s != 501 {
				t.Fatalf("refusal %s has status %d", le.Code, s)
			}
			return
		}
		if len(p.Rules) == 0 || len(p.Rules) > MaxRules {
			t.Fatalf("accepted %d rules", len(p.Rules))
		}
		ids := map[string]bool{}
		for _, r := range p.Rules {
			if r.ID == "" || ids[r.ID] || utf8.RuneCountInString(r.ID) > MaxIDLen {
				t.Fatalf("rule ID %q empty, repeated or too long", r.ID)
			}
			ids[r.ID] = true
			if r.ExpireDays < 0 || r.NoncurrentDays < 0 || r.AbortDays < 0 || r.NewerNoncurrent < 0 {
				t.Fatalf("negative days in %+v", r)
			}
		}
		again, err := Parse(p.Doc)
		if err != nil {
			t.Fatalf("the stored document is refused: %v\n%s", err, p.Doc)
		}
		if !bytes.Equal(again.Doc, p.Doc) || len(again.Rules) != len(p.Rules) {
			t.Fatalf("the stored document changes when read back:\n%s\n%s", p.Doc, again.Doc)
		}
		for i := range p.Rules {
			a, b := p.Rules[i], again.Rules[i]
			if a.ID != b.ID || a.Enabled != b.Enabled || a.Filter.Prefix != b.Filter.Prefix || len(a.Filter.Tags) != len(b.Filter.Tags) ||
				a.ExpireDays != b.ExpireDays || !a.ExpireDate.Equal(b.ExpireDate) || a.AbortDays != b.AbortDays {
				t.Fatalf("rule %d reads back as %+v, was %+v", i, b, a)
			}
			for j := range a.Filter.Tags {
				if a.Filter.Tags[j] != b.Filter.Tags[j] {
					t.Fatalf("rule %d tag %d reads back as %+q, was %+q", i, j, b.Filter.Tags[j], a.Filter.Tags[j])
				}
			}
		}
	})
}
