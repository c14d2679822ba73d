package lifecycle

import (
	"testing"
	"time"
)

func mustRules(t *testing.T, rules ...string) []Rule {
	t.Helper()
	p, err := Parse([]byte(doc(rules...)))
	if err != nil {
		t.Fatal(err)
	}
	return p.Rules
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestAfter_RoundsUpToMidnightUTC: AWS's examples: created 2014-01-15
// 10:30 UTC + 3 days is due 2014-01-19 00:00 UTC; a time at midnight is
// its own ceiling.
func TestAfter_RoundsUpToMidnightUTC(t *testing.T) {
	for _, c := range []struct {
		from string
		days int
		want string
	}{
		{"2014-01-15T10:30:00Z", 3, "2014-01-19T00:00:00Z"},
		{"2014-01-02T00:05:00Z", 1, "2014-01-04T00:00:00Z"},
		{"2014-01-02T00:00:00Z", 1, "2014-01-03T00:00:00Z"},
		{"2014-01-15T23:30:00-05:00", 1, "2014-01-18T00:00:00Z"}, // 04:30 UTC on the 16th
		{"2016-02-28T12:00:00Z", 1, "2016-03-01T00:00:00Z"},      // leap year
	} {
		if got := after(at(c.from), c.days); !got.Equal(at(c.want)) {
			t.Errorf("after(%s, %d) = %v, want %s", c.from, c.days, got, c.want)
		}
	}
}

func TestEvaluate_CurrentVersions(t *testing.T) {
	tag := func(k, v string) string { return "<Tag><Key>" + k + "</Key><Value>" + v + "</Value></Tag>" }
	rules := mustRules(t,
		rule("logs-30", "<Prefix>logs/</Prefix>", "<Expiration><Days>30</Days></Expiration>"),
		rule("logs-tmp-1", "<And><Prefix>logs/</Prefix>"+tag("tmp", "yes")+"</And>", "<Expiration><Days>1</Days></Expiration>"),
		rule("big", "<ObjectSizeGreaterThan>1000</ObjectSizeGreaterThan>", "<Expiration><Days>10</Days></Expiration>"),
		rule("small", "<ObjectSizeLessThan>10</ObjectSizeLessThan>", "<Expiration><Date>2030-06-01T00:00:00Z</Date></Expiration>"),
		"<Rule><ID>off</ID><Filter><Prefix>off/</Prefix></Filter><Status>Disabled</Status><Expiration><Days>1</Days></Expiration></Rule>",
		rule("mid", "<And><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan><ObjectSizeLessThan>200</ObjectSizeLessThan><Prefix>mid/</Prefix></And>", "<Expiration><Days>2</Days></Expiration>"),
	)
	created := at("2030-01-10T12:00:00Z")
	cases := []struct {
		name string
		o    Object
		now  string
		want Action
		rule string
		due  string
	}{
		{"not due yet", Object{Key: "logs/a", Size: 50}, "2030-02-09T23:59:59Z", None, "logs-30", "2030-02-10T00:00:00Z"},
		{"due at midnight", Object{Key: "logs/a", Size: 50}, "2030-02-10T00:00:00Z", Expire, "logs-30", "2030-02-10T00:00:00Z"},
		{"no rule matches", Object{Key: "photos/a", Size: 50}, "2040-01-01T00:00:00Z", None, "", ""},
		{"the shorter rule wins", Object{Key: "logs/a", Size: 50, Tags: []Tag{{"tmp", "yes"}}}, "2030-01-12T00:00:00Z", Expire, "logs-tmp-1", "2030-01-12T00:00:00Z"},
		{"a tag of another value", Object{Key: "logs/a", Size: 50, Tags: []Tag{{"tmp", "no"}}}, "2030-01-12T00:00:00Z", None, "logs-30", "2030-02-10T00:00:00Z"},
		{"greater than: strictly", Object{Key: "x", Size: 1000}, "2040-01-01T00:00:00Z", None, "", ""},
		{"greater than", Object{Key: "x", Size: 1001}, "2030-01-21T00:00:00Z", Expire, "big", "2030-01-21T00:00:00Z"},
		{"less than and a date", Object{Key: "x", Size: 9}, "2030-06-01T00:00:00Z", Expire, "small", "2030-06-01T00:00:00Z"},
		{"a date before creation is due at once", Object{Key: "x", Size: 9, ModTime: at("2031-01-01T00:00:00Z")}, "2031-01-01T00:00:01Z", Expire, "small", "2030-06-01T00:00:00Z"},
		{"less than: strictly", Object{Key: "x", Size: 10}, "2040-01-01T00:00:00Z", None, "", ""},
		{"disabled rule", Object{Key: "off/a", Size: 50}, "2040-01-01T00:00:00Z", None, "", ""},
		{"And of sizes and prefix", Object{Key: "mid/a", Size: 150}, "2030-01-13T00:00:00Z", Expire, "mid", "2030-01-13T00:00:00Z"},
		{"And: outside the size range", Object{Key: "mid/a", Size: 200}, "2040-01-01T00:00:00Z", None, "", ""},
		{"noncurrent rules do not touch current versions", Object{Key: "nc/a", Size: 50}, "2040-01-01T00:00:00Z", None, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			if o.ModTime.IsZero() {
				o.ModTime = created
			}
			d := Evaluate(rules, o, at(c.now))
			if d.Action != c.want || d.Rule != c.rule {
				t.Fatalf("Evaluate = %+v, want %v by %q", d, c.want, c.rule)
			}
			if c.due != "" && !d.Due.Equal(at(c.due)) {
				t.Fatalf("due %v, want %s", d.Due, c.due)
			}
		})
	}
}

// TestEvaluate_Versions covers what only a versioned bucket has:
// noncurrent versions (NoncurrentDays from when they became noncurrent,
// NewerNoncurrentVersions keeping the newest) and delete markers
// (ExpiredObjectDeleteMarker, and Days cleaning lone markers).
func TestEvaluate_Versions(t *testing.T) {
	rules := mustRules(t,
		rule("nc", "<Prefix>nc/</Prefix>", "<NoncurrentVersionExpiration><NoncurrentDays>3</NoncurrentDays></NoncurrentVersionExpiration>"),
		rule("keep2", "<Prefix>keep/</Prefix>", "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>"),
		rule("markers", "<Prefix>m/</Prefix>", "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"),
		rule("days", "<Prefix>d/</Prefix>", "<Expiration><Days>5</Days></Expiration>"),
		rule("nomarkers", "<Prefix>f/</Prefix>", "<Expiration><ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker></Expiration>"),
	)
	created := at("2014-01-01T00:00:00Z")
	since := at("2014-01-15T10:30:00Z")
	cases := []struct {
		name string
		o    Object
		now  string
		want Action
		rule string
	}{
		{"noncurrent, not yet", Object{Key: "nc/a", Noncurrent: true, NoncurrentSince: since}, "2014-01-18T23:00:00Z", None, "nc"},
		{"noncurrent, due from its successor", Object{Key: "nc/a", Noncurrent: true, NoncurrentSince: since}, "2014-01-19T00:00:00Z", DeleteVersion, "nc"},
		{"a noncurrent delete marker", Object{Key: "nc/a", Noncurrent: true, DeleteMarker: true, NoncurrentSince: since}, "2014-01-19T00:00:00Z", DeleteVersion, "nc"},
		{"among the 2 newest noncurrent: kept", Object{Key: "keep/a", Noncurrent: true, NoncurrentSince: since, NewerNoncurrent: 1}, "2015-01-01T00:00:00Z", None, ""},
		{"the third newest: deleted", Object{Key: "keep/a", Noncurrent: true, NoncurrentSince: since, NewerNoncurrent: 2}, "2014-01-17T00:00:00Z", DeleteVersion, "keep2"},
		{"the third newest, too young", Object{Key: "keep/a", Noncurrent: true, NoncurrentSince: since, NewerNoncurrent: 2}, "2014-01-16T12:00:00Z", None, "keep2"},
		{"a lone delete marker", Object{Key: "m/a", DeleteMarker: true, Alone: true}, "2014-01-01T00:00:01Z", RemoveMarker, "markers"},
		{"a delete marker over versions stays", Object{Key: "m/a", DeleteMarker: true}, "2015-01-01T00:00:00Z", None, ""},
		{"ExpiredObjectDeleteMarker false", Object{Key: "f/a", DeleteMarker: true, Alone: true}, "2015-01-01T00:00:00Z", None, ""},
		{"Days clean lone markers old enough", Object{Key: "d/a", DeleteMarker: true, Alone: true}, "2014-01-06T00:00:00Z", RemoveMarker, "days"},
		{"...not before", Object{Key: "d/a", DeleteMarker: true, Alone: true}, "2014-01-05T23:00:00Z", None, "days"},
		{"a current version under a markers rule", Object{Key: "m/a", Size: 3}, "2015-01-01T00:00:00Z", None, ""},
		{"Expiration leaves noncurrent versions", Object{Key: "d/a", Noncurrent: true, NoncurrentSince: since}, "2015-01-01T00:00:00Z", None, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.ModTime = created
			d := Evaluate(rules, o, at(c.now))
			if d.Action != c.want || d.Rule != c.rule {
				t.Fatalf("Evaluate = %+v, want %v by %q", d, c.want, c.rule)
			}
		})
	}
}

func TestAbortDue(t *testing.T) {
	rules := mustRules(t,
		rule("up7", "<Prefix>up/</Prefix>", "<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload>"),
		rule("all2", "", "<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload>"),
		rule("exp", "<Prefix>x/</Prefix>", days1),
	)
	init := at("2030-01-01T08:00:00Z")
	if due, rule := AbortDue(rules, "up/a", init, at("2030-01-03T23:59:59Z")); due || rule != "all2" {
		t.Fatalf("before the shorter rule: %v %q", due, rule)
	}
	if due, rule := AbortDue(rules, "up/a", init, at("2030-01-04T00:00:00Z")); !due || rule != "all2" {
		t.Fatalf("at the shorter rule: %v %q", due, rule)
	}
	only := mustRules(t, rule("up7", "<Prefix>up/</Prefix>", "<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload>"))
	if due, _ := AbortDue(only, "other/a", init, at("2040-01-01T00:00:00Z")); due {
		t.Fatal("an upload outside the prefix is due")
	}
	if due, _ := AbortDue(only, "up/a", init, at("2030-01-09T00:00:00Z")); !due {
		t.Fatal("7 days after initiation, rounded up: not due")
	}
	if !AbortsUploads(rules) || !ExpiresCurrent(rules) || NeedsTags(rules) {
		t.Fatal("rule-set summaries wrong")
	}
}

// TestExpiresVersions: a versioned bucket is walked when an enabled rule
// expires current versions, noncurrent ones or delete markers; not for
// uploads alone or disabled rules.
func TestExpiresVersions(t *testing.T) {
	for _, c := range []struct {
		rules []Rule
		want  bool
	}{
		{[]Rule{{Enabled: true, AbortDays: 1}}, false},
		{[]Rule{{Enabled: false, NoncurrentDays: 1}}, false},
		{[]Rule{{Enabled: true, NoncurrentDays: 1}}, true},
		{[]Rule{{Enabled: true, ExpireMarker: true}}, true},
		{[]Rule{{Enabled: true, AbortDays: 1}, {Enabled: true, ExpireDays: 3}}, true},
		{[]Rule{{Enabled: true, ExpireDate: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}}, true},
	} {
		if got := ExpiresVersions(c.rules); got != c.want {
			t.Errorf("ExpiresVersions(%+v) = %v, want %v", c.rules, got, c.want)
		}
	}
}
