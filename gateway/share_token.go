package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// A share token is 32 random bytes (256 bits, crypto/rand) in unpadded
// base64url: 43 characters that need no escaping in a URL path. The
// index keeps only the token's SHA-256, so a leaked table hands out no
// working link.
const (
	shareTokenBytes = 32
	shareTokenLen   = 43 // base64.RawURLEncoding.EncodedLen(shareTokenBytes)
	sharePrefix     = "/_tnv/share"
)

var errBadToken = errors.New("not a share token")

// newShareToken returns a fresh token and its hash.
func newShareToken() (token, hash string) {
	b := make([]byte, shareTokenBytes)
	rand.Read(b) // never fails (Go 1.24+)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, shareHash(token)
}

// shareHash is the stored form of a token: hex SHA-256.
func shareHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// parseShareToken checks a token's form (so that junk costs no cache or
// database look-up) and returns its hash.
func parseShareToken(s string) (string, error) {
	if len(s) != shareTokenLen {
		return "", errBadToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != shareTokenBytes {
		return "", errBadToken
	}
	return shareHash(s), nil
}

var errTraversal = errors.New("the path is not a plain key below the link's prefix")

// parseSharePath splits the raw (escaped, as sent) path of a share request,
// "/_tnv/share/<TOKEN>[/<rest>]", into the token and the unescaped rest.
// The rest is appended to the link's prefix to make the key, so nothing
// may climb out of it or smuggle a separator: "." and ".." segments
// (literal or %2E-escaped), escaped slashes and backslashes, escaped
// percent signs (double encoding), empty segments, control characters and
// invalid UTF-8 are refused. hasSlash tells whether the token was followed
// by "/".
func parseSharePath(raw string) (token, rest string, hasSlash bool, err error) {
	p, ok := strings.CutPrefix(raw, sharePrefix+"/")
	if !ok {
		return "", "", false, errBadToken
	}
	token, escRest, hasSlash := strings.Cut(p, "/")
	if _, err := parseShareToken(token); err != nil {
		return "", "", false, err
	}
	if escRest == "" {
		return token, "", hasSlash, nil
	}
	low := strings.ToLower(escRest)
	for _, bad := range []string{"%2f", "%5c", "%25", "%00"} {
		if strings.Contains(low, bad) {
			return "", "", false, errTraversal
		}
	}
	rest, err = url.PathUnescape(escRest)
	if err != nil || !utf8.ValidString(rest) || len(rest) > 1024 {
		return "", "", false, errTraversal
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", "", false, errTraversal
		}
	}
	for _, c := range rest {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "", "", false, errTraversal
		}
	}
	return token, rest, true, nil
}
