package policy

import (
	"fmt"
	"testing"
)

func ctxWith(p Principal, kv ...string) map[string][]string {
	c := p.Context()
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i]] = append(c[kv[i]], kv[i+1])
	}
	return c
}

// TestEvaluate is the table of rules a bucket policy decides by.
func TestEvaluate(t *testing.T) {
	anon, bob, carol := Principal{}, Principal{User: "BOBKEY"}, Principal{User: "CAROLKEY"}
	const publicPrefix = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/public/*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::media"}]}`
	const denyWins = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::media/*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/secret/*"}]}`
	const ipRule = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*",
		 "Condition":{"IpAddress":{"aws:SourceIp":["127.0.0.2/32","2001:db8::/32"]}}}]}`
	const notIP = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::media/*",
		 "Condition":{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/30"}}}]}`
	const referer = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*",
		 "Condition":{"StringLike":{"aws:Referer":["https://video.example/*","https://*.video.example/*"]}}}]}`
	const userGrant = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/BOBKEY"},"Action":["s3:ListBucket","s3:GetObject"],
		 "Resource":["arn:aws:s3:::media","arn:aws:s3:::media/*"]}]}`
	const prefixList = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::media",
		 "Condition":{"StringLike":{"s3:prefix":"public/*"},"NumericLessThanEquals":{"s3:max-keys":"100"}}}]}`
	const tls = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::media","arn:aws:s3:::media/*"],
		 "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	const window = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*",
		 "Condition":{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},"DateLessThan":{"aws:CurrentTime":"2027-01-01"}}}]}`
	const homeDirs = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"s3:*Object","Resource":"arn:aws:s3:::media/home/${aws:username}/*"}]}`
	const notAction = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Deny","NotPrincipal":{"AWS":"BOBKEY"},"NotAction":"s3:GetObject","NotResource":"arn:aws:s3:::media/tmp/*"}]}`
	const ifExists = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*",
		 "Condition":{"StringEqualsIfExists":{"aws:Referer":"https://video.example/"}}}]}`
	const null = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*",
		 "Condition":{"Null":{"aws:Referer":"true"}}}]}`
	const forAll = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::media/*",
		 "Condition":{"ForAllValues:StringEquals":{"s3:RequestObjectTagKeys":["kind","owner"]}}}]}`
	const ignoreCase = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*",
		 "Condition":{"StringEqualsIgnoreCase":{"aws:UserAgent":"Player/1"},"StringNotEquals":{"aws:Referer":["https://bad.example/","https://worse.example/"]}}}]}`
	const literal2008 = `{"Version":"2008-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/home/${aws:username}/*"}]}`

	for i, tc := range []struct {
		policy   string
		who      Principal
		action   string
		resource string
		kv       []string
		want     Decision
	}{
		{publicPrefix, anon, "s3:GetObject", "media/public/a.mp4", nil, Allow},
		{publicPrefix, anon, "s3:GetObject", "media/private/a.mp4", nil, NoDecision},
		{publicPrefix, anon, "s3:ListBucket", "media", nil, Deny},
		{publicPrefix, bob, "s3:ListBucket", "media", nil, Deny},
		{publicPrefix, anon, "s3:PutObject", "media/public/a.mp4", nil, NoDecision},
		{publicPrefix, anon, "S3:GETOBJECT", "media/public/a", nil, Allow}, // actions fold case
		{denyWins, anon, "s3:GetObject", "media/secret/x", nil, Deny},
		{denyWins, anon, "s3:GetObject", "media/open/x", nil, Allow},
		{ipRule, anon, "s3:GetObject", "media/x", []string{"aws:sourceip", "127.0.0.2"}, Allow},
		{ipRule, anon, "s3:GetObject", "media/x", []string{"aws:sourceip", "127.0.0.3"}, NoDecision},
		{ipRule, anon, "s3:GetObject", "media/x", []string{"aws:sourceip", "2001:db8::1"}, Allow},
		{ipRule, anon, "s3:GetObject", "media/x", []string{"aws:sourceip", "::ffff:127.0.0.2"}, Allow},
		{ipRule, anon, "s3:GetObject", "media/x", nil, NoDecision},
		{notIP, bob, "s3:GetObject", "media/x", []string{"aws:sourceip", "127.0.0.9"}, Deny},
		{notIP, bob, "s3:GetObject", "media/x", []string{"aws:sourceip", "127.0.0.3"}, NoDecision},
		{notIP, bob, "s3:GetObject", "media/x", nil, Deny}, // a negated operator matches an absent key
		{referer, anon, "s3:GetObject", "media/v.mp4", []string{"aws:referer", "https://video.example/watch"}, Allow},
		{referer, anon, "s3:GetObject", "media/v.mp4", []string{"aws:referer", "https://cdn.video.example/p"}, Allow},
		{referer, anon, "s3:GetObject", "media/v.mp4", []string{"aws:referer", "https://evil.example/?https://video.example/"}, NoDecision},
		{referer, anon, "s3:GetObject", "media/v.mp4", nil, NoDecision},
		{userGrant, bob, "s3:ListBucket", "media", nil, Allow},
		{userGrant, bob, "s3:GetObject", "media/k", nil, Allow},
		{userGrant, bob, "s3:PutObject", "media/k", nil, NoDecision},
		{userGrant, carol, "s3:GetObject", "media/k", nil, NoDecision},
		{userGrant, anon, "s3:GetObject", "media/k", nil, NoDecision},
		{prefixList, anon, "s3:ListBucket", "media", []string{"s3:prefix", "public/", "s3:max-keys", "50"}, Allow},
		{prefixList, anon, "s3:ListBucket", "media", []string{"s3:prefix", "public/", "s3:max-keys", "1000"}, NoDecision},
		{prefixList, anon, "s3:ListBucket", "media", []string{"s3:prefix", "private/", "s3:max-keys", "50"}, NoDecision},
		{prefixList, anon, "s3:ListBucket", "media", []string{"s3:max-keys", "50"}, NoDecision},
		{tls, bob, "s3:GetObject", "media/k", []string{"aws:securetransport", "false"}, Deny},
		{tls, bob, "s3:GetObject", "media/k", []string{"aws:securetransport", "true"}, NoDecision},
		{window, anon, "s3:GetObject", "media/k", []string{"aws:currenttime", "2026-06-01T00:00:00Z"}, Allow},
		{window, anon, "s3:GetObject", "media/k", []string{"aws:currenttime", "2027-06-01T00:00:00Z"}, NoDecision},
		{homeDirs, bob, "s3:PutObject", "media/home/BOBKEY/a", nil, Allow},
		{homeDirs, bob, "s3:GetObject", "media/home/CAROLKEY/a", nil, NoDecision},
		{homeDirs, anon, "s3:GetObject", "media/home//a", nil, NoDecision},
		{notAction, carol, "s3:PutObject", "media/k", nil, Deny},
		{notAction, carol, "s3:GetObject", "media/k", nil, NoDecision},
		{notAction, carol, "s3:PutObject", "media/tmp/k", nil, NoDecision},
		{notAction, bob, "s3:PutObject", "media/k", nil, NoDecision},
		{ifExists, anon, "s3:GetObject", "media/k", nil, Allow},
		{ifExists, anon, "s3:GetObject", "media/k", []string{"aws:referer", "https://video.example/"}, Allow},
		{ifExists, anon, "s3:GetObject", "media/k", []string{"aws:referer", "https://evil.example/"}, NoDecision},
		{null, anon, "s3:GetObject", "media/k", nil, Deny},
		{null, anon, "s3:GetObject", "media/k", []string{"aws:referer", "x"}, NoDecision},
		{forAll, anon, "s3:PutObject", "media/k", []string{"s3:requestobjecttagkeys", "kind", "s3:requestobjecttagkeys", "owner"}, Allow},
		{forAll, anon, "s3:PutObject", "media/k", []string{"s3:requestobjecttagkeys", "kind", "s3:requestobjecttagkeys", "x"}, NoDecision},
		{forAll, anon, "s3:PutObject", "media/k", nil, Allow}, // ForAllValues of nothing holds
		{ignoreCase, anon, "s3:GetObject", "media/k", []string{"aws:useragent", "PLAYER/1"}, Allow},
		{literal2008, bob, "s3:GetObject", "media/home/${aws:username}/a", nil, Allow},
		{literal2008, bob, "s3:GetObject", "media/home/BOBKEY/a", nil, NoDecision},
		{ignoreCase, anon, "s3:GetObject", "media/k", []string{"aws:useragent", "PLAYER/1", "aws:referer", "https://worse.example/"}, NoDecision},
	} {
		p := mustParse(t, tc.policy)
		r := &Request{Principal: tc.who, Action: tc.action, Resource: tc.resource, Context: ctxWith(tc.who, tc.kv...)}
		if got := p.Evaluate(r); got != tc.want {
			t.Errorf("case %d: %s %s %s %v: %s, want %s", i, tc.who.User, tc.action, tc.resource, tc.kv, got, tc.want)
		}
	}
}

func TestIsPublic(t *testing.T) {
	doc := func(prin, cond string) string {
		return fmt.Sprintf(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":%s,"Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"%s}}`, prin, cond)
	}
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{doc(`"*"`, ``), true},
		{doc(`{"AWS":"*"}`, ``), true},
		{doc(`{"AWS":"BOBKEY"}`, ``), false},
		{doc(`"*"`, `,"Condition":{"StringLike":{"aws:Referer":"https://video.example/*"}}`), true},
		{doc(`"*"`, `,"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`), false},
		{doc(`"*"`, `,"Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`), true},
		{doc(`"*"`, `,"Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`), true},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::media/*"}}`, false},
	} {
		if got := mustParse(t, tc.doc).IsPublic(); got != tc.want {
			t.Errorf("IsPublic(%s) = %v", tc.doc, got)
		}
	}
}

func TestWildMatch(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*", "abc", true}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"*/x", "a/b/x", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false},
		{"?", "é", true}, {"public/*", "public/", true}, {"public/*", "publi", false},
	} {
		if got := wildMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("wildMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
