package policy

import (
	"errors"
	"testing"
)

// FuzzParse: any document is refused with a MalformedError or parsed into
// a policy whose evaluation neither panics nor decides without a
// statement.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"}}`))
	f.Add([]byte(`{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Deny","NotPrincipal":{"AWS":["BOBKEY"]},"NotAction":"s3:Get*","NotResource":"arn:aws:s3:::media/${aws:username}/*","Condition":{"ForAnyValue:StringLike":{"aws:Referer":["*"]},"IpAddressIfExists":{"aws:SourceIp":"::1/128"},"Null":{"s3:prefix":"false"},"DateLessThan":{"aws:CurrentTime":1700000000}}}]}`))
	f.Add([]byte(`{"Statement":[]}`))
	f.Add([]byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"CanonicalUser":"x"},"Action":"*","Resource":"arn:aws:s3:::*","Condition":{"NumericLessThan":{"s3:max-keys":"1e3"}}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := Parse(doc, "media")
		if err != nil {
			var me *MalformedError
			if !errors.As(err, &me) || me.Reason == "" {
				t.Fatalf("not a MalformedError with a reason: %v", err)
			}
			return
		}
		if len(p.Statements) == 0 {
			t.Fatal("accepted a policy without statements")
		}
		for _, who := range []Principal{{}, {User: "BOBKEY"}} {
			r := &Request{Principal: who, Action: "s3:GetObject", Resource: "media/public/a", Context: ctxWith(who, "aws:sourceip", "127.0.0.1", "aws:referer", "https://x/", "s3:prefix", "a")}
			p.Evaluate(r)
		}
		p.IsPublic()
		p.Users()
	})
}
