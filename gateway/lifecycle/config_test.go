package lifecycle

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/s3err"
)

// doc wraps rules in a LifecycleConfiguration.
func doc(rules ...string) string {
	return `<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + strings.Join(rules, "") + `</LifecycleConfiguration>`
}

// rule is a V2 rule with a filter and actions.
func rule(id, filter, actions string) string {
	return "<Rule><ID>" + id + "</ID><Filter>" + filter + "</Filter><Status>Enabled</Status>" + actions + "</Rule>"
}

const days1 = "<Expiration><Days>1</Days></Expiration>"

func TestParse_Refusals(t *testing.T) {
	tag := func(k, v string) string { return "<Tag><Key>" + k + "</Key><Value>" + v + "</Value></Tag>" }
	many := make([]string, MaxRules+1)
	for i := range many {
		many[i] = rule(fmt.Sprint("r", i), "", days1)
	}
	cases := []struct {
		name string
		body string
		code s3err.Code
		msg  string // "" = the code's default
	}{
		{"empty body", "", s3err.MalformedXML, ""},
		{"not XML", "lifecycle", s3err.MalformedXML, ""},
		{"another document", "<Tagging/>", s3err.MalformedXML, ""},
		{"trailing element", doc(rule("a", "", days1)) + "<x/>", s3err.MalformedXML, ""},
		{"unknown element", doc(rule("a", "", days1+"<Bogus/>")), s3err.MalformedXML, ""},
		{"unknown top element", strings.Replace(doc(rule("a", "", days1)), "</LifecycleConfiguration>", "<Zap/></LifecycleConfiguration>", 1), s3err.MalformedXML, ""},
		{"no rules", doc(), s3err.InvalidRequest, "At least one lifecycle rule must be specified."},
		{"1001 rules", doc(many...), s3err.InvalidRequest, "The number of lifecycle rules must not exceed the allowed limit of 1000 rules."},
		{"ID of 256", doc(rule(strings.Repeat("i", 256), "", days1)), s3err.InvalidArgument, "ID length should not exceed allowed limit of 255"},
		{"same ID twice", doc(rule("a", "<Prefix>x</Prefix>", days1), rule("a", "<Prefix>y</Prefix>", days1)), s3err.InvalidArgument, "Rule ID must be unique. Found same ID for more than one rule"},
		{"no Status", doc("<Rule><ID>a</ID><Filter/>" + days1 + "</Rule>"), s3err.MalformedXML, ""},
		{"bad Status", doc("<Rule><ID>a</ID><Filter/><Status>enabled</Status>" + days1 + "</Rule>"), s3err.MalformedXML, ""},
		{"neither Filter nor Prefix", doc("<Rule><ID>a</ID><Status>Enabled</Status>" + days1 + "</Rule>"), s3err.MalformedXML, ""},
		{"Filter and Prefix", doc("<Rule><ID>a</ID><Filter/><Prefix>p</Prefix><Status>Enabled</Status>" + days1 + "</Rule>"), s3err.MalformedXML, ""},
		{"V1 then a Filter", doc("<Rule><ID>a</ID><Prefix>p</Prefix><Status>Enabled</Status>"+days1+"</Rule>", rule("b", "", days1)), s3err.InvalidRequest, "Filter element can only be used in Lifecycle V2."},
		{"V2 then a Prefix", doc(rule("b", "", days1), "<Rule><ID>a</ID><Prefix>p</Prefix><Status>Enabled</Status>"+days1+"</Rule>"), s3err.InvalidRequest, "Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter."},
		{"V1 overlapping prefixes", doc("<Rule><ID>a</ID><Prefix>logs/</Prefix><Status>Enabled</Status>"+days1+"</Rule>", "<Rule><ID>b</ID><Prefix>logs/old/</Prefix><Status>Enabled</Status>"+days1+"</Rule>"), s3err.InvalidRequest, "Found overlapping prefixes 'logs/' and 'logs/old/' for same action type 'Expiration'"},
		{"V1 NewerNoncurrentVersions", doc("<Rule><ID>a</ID><Prefix></Prefix><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>"), s3err.InvalidRequest, "NewerNoncurrentVersions element can only be used in Lifecycle V2."},
		{"no action", doc(rule("a", "", "")), s3err.InvalidRequest, "At least one action needs to be specified in a rule"},
		{"empty Expiration", doc(rule("a", "", "<Expiration></Expiration>")), s3err.MalformedXML, ""},
		{"Days and Date", doc(rule("a", "", "<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>")), s3err.MalformedXML, ""},
		{"marker and Days", doc(rule("a", "", "<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")), s3err.MalformedXML, ""},
		{"marker not a boolean", doc(rule("a", "", "<Expiration><ExpiredObjectDeleteMarker>yes</ExpiredObjectDeleteMarker></Expiration>")), s3err.MalformedXML, ""},
		{"Days 0", doc(rule("a", "", "<Expiration><Days>0</Days></Expiration>")), s3err.InvalidArgument, "'Days' for Expiration action must be a positive integer"},
		{"Days -3", doc(rule("a", "", "<Expiration><Days>-3</Days></Expiration>")), s3err.InvalidArgument, "'Days' for Expiration action must be a positive integer"},
		{"Days not a number", doc(rule("a", "", "<Expiration><Days>ten</Days></Expiration>")), s3err.MalformedXML, ""},
		{"Days past an int", doc(rule("a", "", "<Expiration><Days>2147483648</Days></Expiration>")), s3err.MalformedXML, ""},
		{"Date not midnight", doc(rule("a", "", "<Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>")), s3err.InvalidArgument, "'Date' must be at midnight GMT"},
		{"Date midnight elsewhere", doc(rule("a", "", "<Expiration><Date>2030-01-01T00:00:00+02:00</Date></Expiration>")), s3err.InvalidArgument, "'Date' must be at midnight GMT"},
		{"Date not a date", doc(rule("a", "", "<Expiration><Date>soon</Date></Expiration>")), s3err.MalformedXML, ""},
		{"noncurrent without days", doc(rule("a", "", "<NoncurrentVersionExpiration><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>")), s3err.MalformedXML, ""},
		{"NoncurrentDays 0", doc(rule("a", "", "<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>")), s3err.InvalidArgument, "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"},
		{"NewerNoncurrentVersions 0", doc(rule("a", "", "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>0</NewerNoncurrentVersions></NoncurrentVersionExpiration>")), s3err.InvalidArgument, "'NewerNoncurrentVersions' must be a positive integer"},
		{"abort without days", doc(rule("a", "", "<AbortIncompleteMultipartUpload></AbortIncompleteMultipartUpload>")), s3err.MalformedXML, ""},
		{"abort 0 days", doc(rule("a", "", "<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>")), s3err.InvalidArgument, "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"},
		{"abort with a tag", doc(rule("a", tag("k", "v"), "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>")), s3err.InvalidRequest, "AbortIncompleteMultipartUpload cannot be specified with Tags."},
		{"abort with And tags", doc(rule("a", "<And><Prefix>p</Prefix>"+tag("k", "v")+"</And>", "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>")), s3err.InvalidRequest, "AbortIncompleteMultipartUpload cannot be specified with Tags."},
		{"abort with a size", doc(rule("a", "<ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>", "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>")), s3err.InvalidRequest, "AbortIncompleteMultipartUpload cannot be specified with Object Size."},
		{"marker with a tag", doc(rule("a", tag("k", "v"), "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")), s3err.InvalidRequest, "ExpiredObjectDeleteMarker cannot be specified with Tags."},
		{"marker with a size", doc(rule("a", "<ObjectSizeLessThan>10</ObjectSizeLessThan>", "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>")), s3err.InvalidRequest, "ExpiredObjectDeleteMarker cannot be specified with Object Size."},
		{"two predicates outside And", doc(rule("a", "<Prefix>p</Prefix>"+tag("k", "v"), days1)), s3err.MalformedXML, ""},
		{"And with one predicate", doc(rule("a", "<And><Prefix>p</Prefix></And>", days1)), s3err.MalformedXML, ""},
		{"And with one tag", doc(rule("a", "<And>"+tag("k", "v")+"</And>", days1)), s3err.MalformedXML, ""},
		{"And with the same tag key twice", doc(rule("a", "<And>"+tag("k", "v")+tag("k", "w")+"</And>", days1)), s3err.InvalidRequest, "Duplicate Tag Keys are not allowed."},
		{"And with 11 tags", doc(rule("a", "<And>"+strings.Repeat(tag("k", "v"), 11)+"</And>", days1)), s3err.InvalidArgument, "Object tags cannot be greater than 10"},
		{"tag without a key", doc(rule("a", "<Tag><Value>v</Value></Tag>", days1)), s3err.MalformedXML, ""},
		{"tag key of 129", doc(rule("a", tag(strings.Repeat("k", 129), "v"), days1)), s3err.InvalidRequest, "The TagKey you have provided is too long, max 128"},
		{"tag value of 257", doc(rule("a", tag("k", strings.Repeat("v", 257)), days1)), s3err.InvalidRequest, "The TagValue you have provided is too long, max 256"},
		{"prefix of 1025", doc(rule("a", "<Prefix>"+strings.Repeat("p", 1025)+"</Prefix>", days1)), s3err.InvalidRequest, "The maximum size of a prefix is 1024."},
		{"legacy prefix of 1025", doc("<Rule><ID>a</ID><Prefix>" + strings.Repeat("p", 1025) + "</Prefix><Status>Enabled</Status>" + days1 + "</Rule>"), s3err.InvalidRequest, "The maximum size of a prefix is 1024."},
		{"size below 0", doc(rule("a", "<ObjectSizeGreaterThan>-1</ObjectSizeGreaterThan>", days1)), s3err.InvalidRequest, "'ObjectSizeGreaterThan' should be between 0 and 1099511627776000."},
		{"size less than 0", doc(rule("a", "<ObjectSizeLessThan>0</ObjectSizeLessThan>", days1)), s3err.InvalidRequest, "'ObjectSizeLessThan' should be between 1 and 1099511627776000."},
		{"size not a number", doc(rule("a", "<ObjectSizeLessThan>big</ObjectSizeLessThan>", days1)), s3err.MalformedXML, ""},
		{"sizes in the wrong order", doc(rule("a", "<And><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan><ObjectSizeLessThan>100</ObjectSizeLessThan></And>", days1)), s3err.InvalidRequest, "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'."},
		{"a transition", doc(rule("a", "", "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>")), s3err.NotImplemented, "Lifecycle transitions are not implemented by this gateway: it has one storage class."},
		{"a noncurrent transition", doc(rule("a", "", days1+"<NoncurrentVersionTransition><NoncurrentDays>30</NoncurrentDays><StorageClass>GLACIER</StorageClass></NoncurrentVersionTransition>")), s3err.NotImplemented, "Lifecycle transitions are not implemented by this gateway: it has one storage class."},
		// Another fault in a configuration with a transition is answered first.
		{"a transition and a bad rule", doc(rule("a", "", "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>"), rule("b", "", "<Expiration><Days>0</Days></Expiration>")), s3err.InvalidArgument, "'Days' for Expiration action must be a positive integer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.body))
			var le *Error
			if !errors.As(err, &le) {
				t.Fatalf("Parse: %v, want %s", err, c.code)
			}
			msg := c.msg
			if msg == "" {
				msg = c.code.Message()
			}
			if le.Code != c.code || le.Message != msg {
				t.Fatalf("Parse: %s %q, want %s %q", le.Code, le.Message, c.code, msg)
			}
		})
	}
}

func TestParse_AcceptsAndNormalizes(t *testing.T) {
	body := doc(
		rule("tmp", "<And><Prefix>tmp/</Prefix><Tag><Key>kind</Key><Value>scratch</Value></Tag><ObjectSizeGreaterThan>0</ObjectSizeGreaterThan><ObjectSizeLessThan>1048576</ObjectSizeLessThan></And>", "<Expiration><Days>7</Days></Expiration><NoncurrentVersionExpiration><NoncurrentDays>3</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>"),
		"<Rule><Filter><Prefix>uploads/</Prefix></Filter><Status>Disabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>",
		rule("dated", "", "<Expiration><Date>2030-01-01</Date></Expiration>"),
		rule("markers", "", "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"),
	)
	p, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 4 {
		t.Fatalf("%d rules", len(p.Rules))
	}
	r := p.Rules[0]
	if r.ID != "tmp" || !r.Enabled || r.Filter.Prefix != "tmp/" || len(r.Filter.Tags) != 1 || r.Filter.Tags[0] != (Tag{"kind", "scratch"}) ||
		r.Filter.SizeGreater != 0 || r.Filter.SizeLess != 1048576 || r.ExpireDays != 7 || r.NoncurrentDays != 3 || r.NewerNoncurrent != 2 {
		t.Fatalf("rule 0 = %+v", r)
	}
	if r := p.Rules[1]; r.ID == "" || r.Enabled || r.AbortDays != 2 || r.Filter.Prefix != "uploads/" {
		t.Fatalf("rule 1 = %+v: want a generated ID, disabled, abort after 2 days", r)
	}
	if r := p.Rules[2]; !r.ExpireDate.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("rule 2 date = %v", r.ExpireDate)
	}
	if r := p.Rules[3]; !r.ExpireMarker {
		t.Fatalf("rule 3 = %+v", r)
	}
	// The stored document parses to the same rules, keeps the generated
	// ID and answers the date in one form.
	again, err := Parse(p.Doc)
	if err != nil {
		t.Fatalf("stored document: %v\n%s", err, p.Doc)
	}
	if again.Rules[1].ID != p.Rules[1].ID || string(again.Doc) != string(p.Doc) {
		t.Fatalf("stored document does not read back as it was:\n%s\n%s", p.Doc, again.Doc)
	}
	if !strings.Contains(string(p.Doc), "<Date>2030-01-01T00:00:00.000Z</Date>") {
		t.Fatalf("date not normalized: %s", p.Doc)
	}
	// V1: a top-level Prefix (empty matches every key), kept as it was.
	v1, err := Parse([]byte(doc("<Rule><ID>old</ID><Prefix></Prefix><Status>Enabled</Status>" + days1 + "</Rule>")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(v1.Doc), "<Prefix></Prefix>") || strings.Contains(string(v1.Doc), "<Filter>") {
		t.Fatalf("V1 document: %s", v1.Doc)
	}
	// 1000 rules are fine.
	many := make([]string, MaxRules)
	for i := range many {
		many[i] = rule(fmt.Sprint("r", i), fmt.Sprintf("<Prefix>p%d/</Prefix>", i), days1)
	}
	if _, err := Parse([]byte(doc(many...))); err != nil {
		t.Fatalf("1000 rules: %v", err)
	}
}
