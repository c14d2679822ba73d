package gateway

import (
	"github.com/tnv-s3/tnv/s3err"
	"strings"
	"unicode/utf8"
)

// Prefixes and suffixes AWS reserves for its own kinds of names (IDNA
// "xn--", access point aliases "-s3alias", Object Lambda "--ol-s3",
// directory buckets "--x-s3", table buckets "--table-s3", Multi-Region
// Access Points ".mrap", and "sthree-" / "amzn-s3-demo-"). AWS refuses to
// create buckets so named; so do we, so that a name that works here works
// there and a client never mistakes one of ours for one of those.
var (
	reservedBucketPrefixes = []string{"xn--", "sthree-", "amzn-s3-demo-"}
	reservedBucketSuffixes = []string{"-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"}
)

// reservedBucketName reports whether CreateBucket must refuse name although
// it follows the general rules (validBucketName). Existing buckets of such
// names stay reachable: the rule is for new ones.
func reservedBucketName(name string) bool {
	for _, p := range reservedBucketPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, s := range reservedBucketSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// checkKeyUTF8 refuses an object key that is not UTF-8, whatever the
// operation, as AWS does (400 InvalidURI): keys are listed in XML, which
// cannot carry such bytes.
func (r *request) checkKeyUTF8() error {
	if r.hasKey && !utf8.ValidString(r.key) {
		return errMsg(s3err.InvalidURI, "Couldn't parse the specified URI: the object key is not valid UTF-8.")
	}
	return nil
}
