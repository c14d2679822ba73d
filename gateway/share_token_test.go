package gateway

import (
	"strings"
	"testing"
)

func TestShareToken_RoundTripAndForm(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		tok, h := newShareToken()
		if len(tok) != shareTokenLen || seen[tok] {
			t.Fatalf("token %q: length %d or repeated", tok, len(tok))
		}
		seen[tok] = true
		got, err := parseShareToken(tok)
		if err != nil || got != h || len(h) != 64 {
			t.Fatalf("parseShareToken(%q) = %q, %v; want %q", tok, got, err, h)
		}
	}
	tok, _ := newShareToken()
	for _, bad := range []string{"", tok[:42], tok + "A", strings.Replace(tok, tok[:1], "+", 1), strings.Replace(tok, tok[:1], "=", 1), strings.Repeat("A", 42) + "B"} {
		if _, err := parseShareToken(bad); err == nil {
			t.Errorf("parseShareToken(%q): want an error", bad)
		}
	}
}

func TestParseSharePath_RefusesTraversal(t *testing.T) {
	tok, _ := newShareToken()
	base := sharePrefix + "/" + tok + "/"
	good := map[string]string{
		"":                 "",
		"a.m3u8":           "a.m3u8",
		"v/seg%20001.ts":   "v/seg 001.ts",
		"%E2%82%AC/x.m4s":  "€/x.m4s",
		"..a/b..":          "..a/b..",
		"a.b/.hidden/c.ts": "a.b/.hidden/c.ts",
	}
	for in, want := range good {
		gt, rest, _, err := parseSharePath(base + in)
		if err != nil || gt != tok || rest != want {
			t.Errorf("parseSharePath(%q) = %q, %q, %v; want %q", in, gt, rest, err, want)
		}
	}
	for _, in := range []string{"..", "../x", "a/../../b", "%2E%2E/x", "%2e%2e/x", ".%2E/x", "a%2Fb", "a%2f..%2fb", "%252E%252E/x",
		"%252F", "a/./b", "a//b", "a\\..\\b", "a%5C..%5Cb", "a%00b", "a%0Ab", "%ff", "a%zz"} {
		if _, _, _, err := parseSharePath(base + in); err == nil {
			t.Errorf("parseSharePath(%q): want a refusal", in)
		}
	}
	for _, in := range []string{"/_tnv/share/", "/_tnv/share/short/x", "/_tnv/sharex/" + tok} {
		if _, _, _, err := parseSharePath(in); err == nil {
			t.Errorf("parseSharePath(%q): want a refusal", in)
		}
	}
}

// FuzzParseSharePath: whatever the path, an accepted rest is a plain
// relative key: no "." or ".." segment, no empty segment, no backslash or
// control character, so prefix+rest never leaves the prefix.
func FuzzParseSharePath(f *testing.F) {
	tok, _ := newShareToken()
	for _, s := range []string{"", "a.m3u8", "v/seg1.ts", "../x", "%2E%2E/x", "a%2Fb", "%252E%252E", "a//b", "a\\b", "%E2%82%AC"} {
		f.Add(tok, s)
	}
	f.Fuzz(func(t *testing.T, token, rest string) {
		gt, r, _, err := parseSharePath(sharePrefix + "/" + token + "/" + rest)
		if err != nil {
			return
		}
		if _, err := parseShareToken(gt); err != nil || gt != token {
			t.Fatalf("accepted token %q from %q", gt, token)
		}
		if r == "" {
			return
		}
		for _, seg := range strings.Split(r, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("accepted rest %q (from %q) with segment %q", r, rest, seg)
			}
		}
		if strings.ContainsAny(r, "\\\x00\n\r") {
			t.Fatalf("accepted rest %q", r)
		}
	})
}
