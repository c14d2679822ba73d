package gateway

import (
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// refList is the listing S3 specifies, computed naively.
func refList(keys []string, prefix, delim string) (entries []string) {
	sort.Strings(keys)
	seen := map[string]bool{}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				cp := k[:len(prefix)+i+len(delim)]
				if !seen[cp] {
					seen[cp] = true
					entries = append(entries, "P:"+cp)
				}
				continue
			}
		}
		entries = append(entries, "K:"+k)
	}
	return entries
}

var listKeys = []string{
	"a", "a/", "a/b", "a/b/c", "a/b/d", "a/c", "a+b", "a b", "a%2F", "b", "b/x/y", "b/z",
	"photos/2006/jan/1.jpg", "photos/2006/feb/2.jpg", "photos/2007/x.jpg", "photos/index.html",
	"z\xff\xff", "z\xff/q", "ü/é", "sp ace/k", "../../etc/passwd", "x&y<z>",
}

func TestList_V1V2AgainstReference(t *testing.T) {
	for _, mysql := range []bool{false, true} {
		e := newEnv(t, envOpt{mysql: mysql})
		e.mkBucket("bkt")
		var keys []string
		for _, k := range listKeys {
			if !strings.Contains(k, "\xff") { // not valid UTF-8: the SDK would refuse the XML
				keys = append(keys, k)
				e.put("bkt", k, []byte(k))
			}
		}
		for i := 0; i < 30; i++ {
			k := "many/" + string(rune('a'+i%26)) + "/" + strings.Repeat("n", i)
			keys = append(keys, k)
			e.put("bkt", k, nil)
		}
		c := e.root()
		for _, prefix := range []string{"", "a", "a/", "photos/", "photos/2006/", "many/", "nothing"} {
			for _, delim := range []string{"", "/", "b", "/2"} {
				want := refList(slices.Clone(keys), prefix, delim)
				for _, max := range []int32{1, 2, 3, 7, 1000} {
					// V2, paged by continuation tokens, URL-encoded
					var got []string
					var token *string
					for pages := 0; ; pages++ {
						out, err := c.ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), Prefix: aws.String(prefix),
							Delimiter: aws.String(delim), MaxKeys: aws.Int32(max), ContinuationToken: token, EncodingType: types.EncodingTypeUrl})
						must(t, err)
						n := 0
						for _, o := range out.Contents {
							k, _ := url.QueryUnescape(*o.Key)
							got = append(got, "K:"+k)
							n++
						}
						for _, p := range out.CommonPrefixes {
							k, _ := url.QueryUnescape(*p.Prefix)
							got = append(got, "P:"+k)
							n++
						}
						if int(*out.KeyCount) != n || n > int(max) {
							t.Fatalf("KeyCount %d, entries %d, max %d", *out.KeyCount, n, max)
						}
						if !*out.IsTruncated {
							break
						}
						token = out.NextContinuationToken
						if pages > 100 {
							t.Fatal("no end")
						}
					}
					sortEntries(got)
					if !slices.Equal(got, want) {
						t.Fatalf("v2 prefix %q delim %q max %d:\n got %q\nwant %q", prefix, delim, max, got, want)
					}
					// V1, paged by markers
					got = nil
					var marker *string
					for pages := 0; ; pages++ {
						out, err := c.ListObjects(ctx(), &s3.ListObjectsInput{Bucket: aws.String("bkt"), Prefix: aws.String(prefix),
							Delimiter: aws.String(delim), MaxKeys: aws.Int32(max), Marker: marker})
						must(t, err)
						last := ""
						for _, o := range out.Contents {
							got = append(got, "K:"+*o.Key)
							last = max1(last, *o.Key)
						}
						for _, p := range out.CommonPrefixes {
							got = append(got, "P:"+*p.Prefix)
							last = max1(last, *p.Prefix)
						}
						if !*out.IsTruncated {
							break
						}
						if out.NextMarker != nil {
							last = *out.NextMarker
						}
						marker = &last
						if pages > 100 {
							t.Fatal("no end")
						}
					}
					sortEntries(got)
					if !slices.Equal(got, want) {
						t.Fatalf("v1 prefix %q delim %q max %d:\n got %q\nwant %q", prefix, delim, max, got, want)
					}
				}
			}
		}
	}
}

func max1(a, b string) string {
	if a > b {
		return a
	}
	return b
}

// sortEntries orders entries by name, as S3 interleaves keys and prefixes.
func sortEntries(s []string) {
	sort.Slice(s, func(i, j int) bool { return s[i][2:] < s[j][2:] })
}

func TestList_StartAfterMaxKeysZeroAndBadArgs(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.mkBucket("bkt")
	for _, k := range []string{"a", "b", "c"} {
		e.put("bkt", k, nil)
	}
	c := e.root()
	out, err := c.ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), StartAfter: aws.String("a")})
	must(t, err)
	if len(out.Contents) != 2 || *out.Contents[0].Key != "b" {
		t.Fatalf("%+v", out.Contents)
	}
	out, err = c.ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), MaxKeys: aws.Int32(0)})
	must(t, err)
	if len(out.Contents) != 0 {
		t.Fatalf("max-keys 0 listed %d", len(out.Contents))
	}
	out, err = c.ListObjectsV2(ctx(), &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), FetchOwner: aws.Bool(true)})
	must(t, err)
	if out.Contents[0].Owner == nil || *out.Contents[0].Owner.ID != rootAK {
		t.Fatalf("owner %+v", out.Contents[0].Owner)
	}
	resp, body := e.signed("GET", "/bkt?max-keys=-1", nil, nil)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "InvalidArgument") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, body = e.signed("GET", "/bkt?list-type=2&continuation-token=%21%21", nil, nil)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "InvalidArgument") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
