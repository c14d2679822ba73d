package policy

import "testing"

// BenchmarkEvaluate: the cost a policy adds to a request (the video
// site's three statements: a Referer rule, a source-address Deny, a user
// grant).
func BenchmarkEvaluate(b *testing.B) {
	p, err := Parse([]byte(`{"Version":"2012-10-17","Statement":[
		{"Sid":"Site","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/public/*",
		 "Condition":{"StringLike":{"aws:Referer":"https://video.example/*"}}},
		{"Sid":"Blocked","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::media/*",
		 "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},
		{"Sid":"Bob","Effect":"Allow","Principal":{"AWS":"BOBKEY"},"Action":["s3:GetObject","s3:ListBucket"],
		 "Resource":["arn:aws:s3:::media","arn:aws:s3:::media/*"]}]}`), "media")
	if err != nil {
		b.Fatal(err)
	}
	who := Principal{}
	r := &Request{Principal: who, Action: "s3:GetObject", Resource: "media/public/film/seg-0001.ts",
		Context: ctxWith(who, "aws:sourceip", "192.0.2.7", "aws:referer", "https://video.example/watch/1")}
	b.ReportAllocs()
	for b.Loop() {
		if p.Evaluate(r) != Allow {
			b.Fatal("not allowed")
		}
	}
}
