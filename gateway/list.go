package gateway

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/tnv-s3/tnv/s3err"
)

// successor returns the smallest string greater than every string with
// prefix p, or "" when there is none (p empty or all 0xFF).
func successor(p string) string {
	b := []byte(p)
	for len(b) > 0 {
		if b[len(b)-1] < 0xFF {
			b[len(b)-1]++
			return string(b)
		}
		b = b[:len(b)-1]
	}
	return ""
}

// listing is one page of a listing.
type listing struct {
	objects   []listRow
	prefixes  []string
	truncated bool
	last      string // the last key or common prefix returned
}

// list pages through a bucket's keys in byte order: keys under prefix,
// after `after`, at most max entries (keys and common prefixes together),
// keys sharing a common prefix up to delim rolled up into it. A run of
// keys under one common prefix costs one extra query, not a scan.
func (g *Gateway) list(ctx context.Context, bucket, prefix, delim, after string, max int) (*listing, error) {
	l := &listing{}
	if max == 0 {
		return l, nil
	}
	cpOf := func(key string) string {
		if delim == "" || !strings.HasPrefix(key, prefix) {
			return ""
		}
		if i := strings.Index(key[len(prefix):], delim); i >= 0 {
			return key[:len(prefix)+i+len(delim)]
		}
		return ""
	}
	from, incl := prefix, true
	if after >= prefix {
		from, incl = after, false
		if cp := cpOf(after); cp != "" && cp == after {
			// resuming after a common prefix: skip every key under it
			if from = successor(cp); from == "" {
				return l, nil
			}
			incl = true
		}
	}
	upTo := successor(prefix) // "" = no upper bound
	batch := min(max+1, 1001)
	count := 0
	for {
		rows, err := g.idx.ScanKeys(ctx, bucket, from, incl, upTo, batch)
		if err != nil {
			return nil, err
		}
		lastCP := ""
		broke := false
	rowLoop:
		for i, row := range rows {
			if lastCP != "" && strings.HasPrefix(row.Key, lastCP) {
				continue
			}
			if cp := cpOf(row.Key); cp != "" {
				if count == max {
					l.truncated = true
					return l, nil
				}
				l.prefixes = append(l.prefixes, cp)
				l.last = cp
				count++
				lastCP = cp
				if from = successor(cp); from == "" {
					return l, nil
				}
				incl = true
				if i+1 < len(rows) && strings.HasPrefix(rows[i+1].Key, cp) {
					broke = true
					break rowLoop // requery past the prefix instead of scanning it
				}
				continue
			}
			if count == max {
				l.truncated = true
				return l, nil
			}
			l.objects = append(l.objects, row)
			l.last = row.Key
			count++
			from, incl = row.Key, false
		}
		if !broke && len(rows) < batch {
			return l, nil
		}
	}
}

// s3URLEncode is the encoding of encoding-type=url: everything but
// unreserved characters and '/' percent-encoded.
func s3URLEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

type listParams struct {
	prefix, delim string
	max           int
	encode        func(string) string
	encodingType  string
}

// queryCount is the non-negative integer query parameter name, def when
// it is absent: the max-keys, max-parts, max-uploads and markers of the
// listings.
func (r *request) queryCount(name string, def int) (int, error) {
	s := r.query.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errMsg(s3err.InvalidArgument, "Provided %s not an integer or within integer range", name)
	}
	return n, nil
}

func (r *request) listParams() (listParams, error) {
	p := listParams{prefix: r.query.Get("prefix"), delim: r.query.Get("delimiter"), max: 1000, encode: func(s string) string { return s }}
	n, err := r.queryCount("max-keys", 1000)
	if err != nil {
		return p, err
	}
	p.max = min(n, 1000)
	switch et := r.query.Get("encoding-type"); et {
	case "":
	case "url":
		p.encode, p.encodingType = s3URLEncode, "url"
	default:
		return p, errMsg(s3err.InvalidArgument, "Invalid Encoding Method specified in Request")
	}
	return p, nil
}

func (r *request) entries(l *listing, p listParams, withOwner bool) ([]listObjectEntry, []commonPrefix) {
	var out []listObjectEntry
	for _, o := range l.objects {
		e := listObjectEntry{Key: p.encode(o.Key), LastModified: isoTime(o.MTime), ETag: `"` + o.ETag + `"`, Size: o.Size, StorageClass: "STANDARD"}
		if withOwner {
			e.Owner = &owner{ID: r.bucket.Owner, DisplayName: r.bucket.Owner}
		}
		out = append(out, e)
	}
	var cps []commonPrefix
	for _, c := range l.prefixes {
		cps = append(cps, commonPrefix{Prefix: p.encode(c)})
	}
	return out, cps
}

func (g *Gateway) listObjectsV1(r *request) error {
	p, err := r.listParams()
	if err != nil {
		return err
	}
	marker := r.query.Get("marker")
	l, err := g.list(r.ctx, r.bucketName, p.prefix, p.delim, marker, p.max)
	if err != nil {
		return errInternal(err)
	}
	res := listBucketResultV1{Xmlns: xmlns, Name: r.bucketName, Prefix: p.encode(p.prefix), Marker: p.encode(marker),
		MaxKeys: p.max, Delimiter: p.encode(p.delim), IsTruncated: l.truncated, EncodingType: p.encodingType}
	if l.truncated {
		res.NextMarker = p.encode(l.last)
	}
	res.Contents, res.CommonPrefixes = r.entries(l, p, true)
	return r.sendXML(http.StatusOK, res)
}

func (g *Gateway) listObjectsV2(r *request) error {
	if r.query.Get("list-type") != "2" {
		return errMsg(s3err.InvalidArgument, "Invalid list-type")
	}
	p, err := r.listParams()
	if err != nil {
		return err
	}
	after := r.query.Get("start-after")
	token := r.query.Get("continuation-token")
	if r.query.Has("continuation-token") {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || token == "" {
			return errMsg(s3err.InvalidArgument, "The continuation token provided is incorrect")
		}
		after = string(b)
	}
	l, err := g.list(r.ctx, r.bucketName, p.prefix, p.delim, after, p.max)
	if err != nil {
		return errInternal(err)
	}
	res := listBucketResultV2{Xmlns: xmlns, Name: r.bucketName, Prefix: p.encode(p.prefix), MaxKeys: p.max,
		Delimiter: p.encode(p.delim), IsTruncated: l.truncated, EncodingType: p.encodingType,
		ContinuationToken: token, StartAfter: p.encode(r.query.Get("start-after"))}
	if l.truncated {
		res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(l.last))
	}
	res.Contents, res.CommonPrefixes = r.entries(l, p, r.query.Get("fetch-owner") == "true")
	res.KeyCount = len(res.Contents) + len(res.CommonPrefixes)
	return r.sendXML(http.StatusOK, res)
}
