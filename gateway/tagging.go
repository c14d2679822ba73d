package gateway

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/s3err"
)

// Object and bucket tagging: Put/Get/DeleteObjectTagging,
// Put/Get/DeleteBucketTagging, x-amz-tagging on PutObject,
// CreateMultipartUpload and CopyObject (x-amz-tagging-directive), and
// x-amz-tagging-count on GET/HEAD. An object's tags are stored with its
// headers, so an overwrite replaces them and a delete removes them.

// AWS's limits on tags, in Unicode characters.
const (
	maxObjectTags = 10
	maxBucketTags = 50
	maxTagKey     = 128
	maxTagValue   = 256
	maxTagXML     = 64 << 10 // a full tag set is < 20 KiB even in 4-byte characters
)

type tag = index.Tag

// tagging is S3's Tagging document, in and out.
type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	TagSet  *tagSet  `xml:"TagSet"`
}

type tagSet struct {
	Tag []tagXML `xml:"Tag"`
}

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// parseTagging parses a Put*Tagging body: a Tagging document with a
// TagSet of at most max valid tags.
func parseTagging(b []byte, max int) ([]tag, error) {
	var doc tagging
	if err := decodeStrict(b, &doc); err != nil {
		return nil, err
	}
	if doc.TagSet == nil {
		return nil, errCode(s3err.MalformedXML)
	}
	var tags []tag
	for _, t := range doc.TagSet.Tag {
		tags = append(tags, tag{Key: t.Key, Value: t.Value})
	}
	return tags, checkTags(tags, max)
}

// parseTagHeader parses x-amz-tagging: tags as URL-encoded query
// parameters ("k1=v1&k2=v2"), at most maxObjectTags.
func parseTagHeader(h string) ([]tag, error) {
	if h == "" {
		return nil, nil
	}
	bad := errMsg(s3err.InvalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	var tags []tag
	for _, kv := range strings.Split(h, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, bad
		}
		tags = append(tags, tag{Key: key, Value: val})
	}
	return tags, checkTags(tags, maxObjectTags)
}

// checkTags applies AWS's rules: at most max tags (BadRequest), each key
// 1..128 and value 0..256 characters of valid UTF-8, unique, not under
// the reserved aws: prefix (InvalidTag). Control characters are refused
// too, so that every tag set survives its XML round trip unchanged.
func checkTags(tags []tag, max int) error {
	if len(tags) > max {
		what := "Object"
		if max == maxBucketTags {
			what = "Bucket"
		}
		return errMsg(s3err.BadRequest, "%s tags cannot be greater than %d", what, max)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		switch {
		case t.Key == "" || !validTagText(t.Key):
			return errMsg(s3err.InvalidTag, "The TagKey you have provided is invalid")
		case utf8.RuneCountInString(t.Key) > maxTagKey:
			return errMsg(s3err.InvalidTag, "The TagKey you have provided is too long, max %d", maxTagKey)
		case !validTagText(t.Value):
			return errMsg(s3err.InvalidTag, "The TagValue you have provided is invalid")
		case utf8.RuneCountInString(t.Value) > maxTagValue:
			return errMsg(s3err.InvalidTag, "The TagValue you have provided is too long, max %d", maxTagValue)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return errMsg(s3err.InvalidTag, "Your TagKey cannot be prefixed with aws:")
		case seen[t.Key]:
			return errMsg(s3err.InvalidTag, "Cannot provide multiple Tags with the same key")
		}
		seen[t.Key] = true
	}
	return nil
}

func validTagText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		// controls, and what XML 1.0 cannot carry (U+FFFE, U+FFFF)
		if unicode.IsControl(c) || c == 0xFFFE || c == 0xFFFF {
			return false
		}
	}
	return true
}

// taggingDoc renders a tag set.
func taggingDoc(tags []tag) tagging {
	doc := tagging{Xmlns: xmlns, TagSet: &tagSet{}}
	for _, t := range tags {
		doc.TagSet.Tag = append(doc.TagSet.Tag, tagXML{Key: t.Key, Value: t.Value})
	}
	return doc
}

// copyTags is the tag set of a CopyObject's destination by
// x-amz-tagging-directive: the source's (COPY, the default) or the
// request's x-amz-tagging (REPLACE).
func copyTags(h http.Header, src *object) ([]tag, error) {
	switch d := strings.ToUpper(h.Get("X-Amz-Tagging-Directive")); d {
	case "", "COPY":
		return src.Headers.Tags, nil
	case "REPLACE":
		return parseTagHeader(h.Get("X-Amz-Tagging"))
	default:
		return nil, errMsg(s3err.InvalidArgument, "Unknown tagging directive.")
	}
}

// setTagCount tells GET and HEAD how many tags the object has.
func (r *request) setTagCount(o *object) {
	if n := len(o.Headers.Tags); n > 0 {
		r.c.Set("x-amz-tagging-count", strconv.Itoa(n))
	}
}

func (g *Gateway) putObjectTagging(r *request) error {
	if err := requireDigest(r.header); err != nil {
		return err
	}
	b, err := r.readXML(maxTagXML)
	if err != nil {
		return err
	}
	tags, err := parseTagging(b, maxObjectTags)
	if err != nil {
		return err
	}
	return g.setObjectTags(r, tags, http.StatusOK)
}

func (g *Gateway) deleteObjectTagging(r *request) error {
	return g.setObjectTags(r, nil, http.StatusNoContent)
}

func (g *Gateway) setObjectTags(r *request, tags []tag, status int) error {
	if r.query.Has("versionId") || r.bucket.Versioning != index.Unversioned {
		return g.setVersionTags(r, tags, status) // versioning.go: answers x-amz-version-id
	}
	err := g.idx.SetObjectTags(r.ctx, r.bucketName, r.key, tags)
	if errors.Is(err, errNotFound) {
		return errCode(s3err.NoSuchKey)
	}
	if err != nil {
		return errInternal(err)
	}
	return r.c.Status(status).Send(nil) // SendStatus would add a text body
}

func (g *Gateway) getObjectTagging(r *request) error {
	o, err := g.loadVersion(r) // versioning.go
	if err != nil {
		return err
	}
	if r.bucket.Versioning != index.Unversioned {
		r.c.Set("x-amz-version-id", o.VersionID)
	}
	return r.sendXML(http.StatusOK, taggingDoc(o.Headers.Tags))
}

func (g *Gateway) putBucketTagging(r *request) error {
	if err := requireDigest(r.header); err != nil {
		return err
	}
	b, err := r.readXML(maxTagXML)
	if err != nil {
		return err
	}
	tags, err := parseTagging(b, maxBucketTags)
	if err != nil {
		return err
	}
	return g.setBucketTags(r, tags)
}

func (g *Gateway) deleteBucketTagging(r *request) error { return g.setBucketTags(r, nil) }

func (g *Gateway) setBucketTags(r *request, tags []tag) error {
	if err := g.idx.SetBucketTags(r.ctx, r.bucketName, tags); err != nil {
		return toS3Error(err)
	}
	return r.c.Status(http.StatusNoContent).Send(nil) // SendStatus would add a text body
}

func (g *Gateway) getBucketTagging(r *request) error {
	tags, err := g.idx.BucketTags(r.ctx, r.bucketName)
	if err != nil {
		return toS3Error(err)
	}
	if len(tags) == 0 {
		return errCode(s3err.NoSuchTagSet)
	}
	return r.sendXML(http.StatusOK, taggingDoc(tags))
}
