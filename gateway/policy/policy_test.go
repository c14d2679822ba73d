package policy

import (
	"errors"
	"strings"
	"testing"
)

const bucket = "media"

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc), bucket)
	if err != nil {
		t.Fatalf("Parse(%s): %v", doc, err)
	}
	return p
}

// TestParse_Malformed: everything not understood is refused with a reason.
func TestParse_Malformed(t *testing.T) {
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":` + s + `}` }
	for _, tc := range []struct{ doc, reason string }{
		{``, "first byte must be '{'"},
		{`[]`, "first byte must be '{'"},
		{`{"Version":"2012-10-17",`, "valid JSON"},
		{`{"Version":"2012-10-17"}`, "Missing required field Statement"},
		{`{"Version":"2019-01-01","Statement":[]}`, "valid version"},
		{`{"Version":"2012-10-17","Statement":[],"Extra":1}`, "Unknown field Extra"},
		{stmt(`[]`), "Statement is empty"},
		{stmt(`"x"`), "object or an array"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}`), "Missing required field Resource"},
		{stmt(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"}`), "Missing required field Principal"},
		{stmt(`{"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"}`), "Missing required field Effect"},
		{stmt(`{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"}`), "Invalid effect"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:Fly","Resource":"arn:aws:s3:::media/*"}`), "invalid action: s3:fly"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"arn:aws:s3:::media/*"}`), "invalid action"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:Zz*","Resource":"arn:aws:s3:::media/*"}`), "invalid action"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}`), "invalid resource"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"media/*"}`), "invalid resource"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media"}`), "does not apply to any resource"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::media/*"}`), "does not apply to any resource"},
		{stmt(`{"Effect":"Allow","Principal":{"Service":"logging.s3.amazonaws.com"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"}`), "Invalid principal"},
		{stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"}`), "Invalid principal"},
		{stmt(`{"Effect":"Allow","Principal":"bob","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"}`), "Invalid principal"},
		{stmt(`{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"}`), "both Principal and NotPrincipal"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*","Condition":{"StringFuzzy":{"aws:Referer":"x"}}}`), "Invalid Condition type : StringFuzzy"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*","Condition":{"StringEquals":{"aws:Nope":"x"}}}`), "invalid condition key: aws:Nope"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1/8"}}}`), "Invalid IP"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::media","Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}}`), "Invalid numeric"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}`), "Invalid date"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}`), "Invalid boolean"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*","Condition":{"StringEquals":{"aws:Referer":{"a":1}}}}`), "Invalid value"},
		{stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/${aws:nothing}/*"}`), "Invalid policy variable"},
		{stmt(`[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"},{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"}]`), "must be unique"},
		{stmt(`{"Effect":"Allow","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"}`), "Duplicate field Effect"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/` + strings.Repeat("a", MaxSize) + `"}}`, "no larger than"},
	} {
		_, err := Parse([]byte(tc.doc), bucket)
		var me *MalformedError
		if !errors.As(err, &me) || !strings.Contains(me.Reason, tc.reason) {
			t.Errorf("Parse(%.120s): %v, want a MalformedError with %q", tc.doc, err, tc.reason)
		}
	}
}

func TestParse_Forms(t *testing.T) {
	p := mustParse(t, `{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"s","Effect":"Allow",
		"Principal":{"AWS":["arn:aws:iam::000000000000:user/BOBKEY","CAROLKEY"],"CanonicalUser":"DAVEKEY"},
		"Action":["s3:Get*","s3:ListBucket"],"Resource":["arn:aws:s3:::media","arn:aws:s3:::media/*"],
		"Condition":{"ForAnyValue:StringLike":{"aws:Referer":["a","b"]},"NumericLessThanEquals":{"s3:max-keys":10},
		"BoolIfExists":{"aws:SecureTransport":true}}}}`)
	if got := strings.Join(p.Users(), ","); got != "BOBKEY,CAROLKEY,DAVEKEY" {
		t.Fatalf("Users = %s", got)
	}
	if len(p.Statements[0].Conditions) != 3 {
		t.Fatalf("conditions: %+v", p.Statements[0].Conditions)
	}
}
