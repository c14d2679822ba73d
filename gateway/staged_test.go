package gateway

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tnv-s3/tnv/gateway/index"
)

// requestsOf sums tnv_requests_total of the storage nodes for cmd (a
// command's name, "UPLOAD_STAGED") and result ("ok", an errno's name).
func requestsOf(t *testing.T, reg *prometheus.Registry, cmd, result string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	must(t, err)
	var sum float64
	for _, f := range fams {
		if f.GetName() != "tnv_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["cmd"] == cmd && labels["result"] == result {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

var dataFileRE = regexp.MustCompile(`^[0-9a-z]{3}/[0-9a-z]{3}/[0-9a-z]{3}/[0-9a-z]{3}$`)

// storedFiles counts the data files in every store below dir (the
// cluster's), each copy once.
func storedFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	stores, err := os.ReadDir(dir)
	must(t, err)
	for _, st := range stores {
		root := filepath.Join(dir, st.Name())
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if !d.IsDir() && dataFileRE.MatchString(filepath.ToSlash(rel)) {
				n++
			}
			return nil
		})
	}
	return n
}

// TestCluster_StagedPuts: with storage nodes in the gateway's process on
// its database (tnv up's layout), a PUT of one blob stages its upload
// (UPLOAD_STAGED) and commits it with the index row; each object reads
// back from either mirror. A PUT refused for a condition leaves the
// existing object and no extra copy; one whose body fails its Content-MD5
// after every byte was sent has its staged upload given up at once
// (not left for StagedTTL), and no copy stays behind; a PUT of
// more than one blob goes through UPLOAD.
func TestCluster_StagedPuts(t *testing.T) {
	reg := prometheus.NewRegistry()
	cl := newClusterOpt(t, clusterOpt{staged: true, reg: reg})
	e := cl.env
	e.mkBucket("stg")
	c := e.root()
	want := map[string][]byte{}
	for i := range 8 {
		key := string(rune('a'+i)) + "-small"
		body := randBytes(4096 + i)
		_, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("stg"), Key: aws.String(key), Body: bytes.NewReader(body)})
		must(t, err)
		want[key] = body
	}
	if got := requestsOf(t, reg, "UPLOAD_STAGED", "ok"); got != 8 {
		t.Fatalf("%v UPLOAD_STAGED, want 8 (one per PUT)", got)
	}
	if got := requestsOf(t, reg, "UPLOAD", "ok"); got != 0 {
		t.Fatalf("%v UPLOADs for one-blob PUTs", got)
	}
	check := func() {
		t.Helper()
		for key, body := range want {
			for range 2 { // requests start one mirror further each time
				g, err := c.GetObject(ctx(), &s3.GetObjectInput{Bucket: aws.String("stg"), Key: aws.String(key)})
				must(t, err)
				b, err := io.ReadAll(g.Body)
				g.Body.Close()
				must(t, err)
				if !bytes.Equal(b, body) {
					t.Fatalf("%s: %d bytes back, differ", key, len(b))
				}
			}
		}
	}
	check()
	copies := 2 * len(want)
	waitFor(t, func() bool { return storedFiles(t, cl.dir) == copies })

	// Refused at the publish: the upload committed alone, then collected.
	_, err := c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("stg"), Key: aws.String("a-small"),
		Body: bytes.NewReader([]byte("not written")), IfNoneMatch: aws.String("*")})
	wantCode(t, err, "PreconditionFailed")
	// Refused with the body's last bytes (its digest is checked at its
	// end): the node has every byte and stages the upload, and the client
	// gives it up at once — well before StagedTTL (30 s) — and the
	// member's copy, which never got a row, goes with its limbo's sweep.
	_, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("stg"), Key: aws.String("bad-digest"),
		Body: bytes.NewReader([]byte("some bytes")), ContentMD5: aws.String(b64md5([]byte("other bytes")))})
	wantCode(t, err, "BadDigest")
	check()
	for i := 0; storedFiles(t, cl.dir) != copies; i++ {
		if i == 200 {
			t.Fatalf("%d data files after 10 s, want %d", storedFiles(t, cl.dir), copies)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Two blobs (blobSize 16 MiB): UPLOAD, each committed by its node.
	big := randBytes(16<<20 + 1)
	_, err = c.PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("stg"), Key: aws.String("big"), Body: bytes.NewReader(big)})
	must(t, err)
	want["big"] = big
	if got := requestsOf(t, reg, "UPLOAD", "ok"); got != 2 {
		t.Fatalf("%v UPLOADs for a PUT of two blobs, want 2", got)
	}
	check()
}

// TestCluster_StagedPutFencedByAnotherGateway: a staged PUT whose index
// row another gateway's lease fences (that gateway caches lookups) has
// its upload committed alone, waits for the lease to be given back, and
// then publishes the row in a transaction of its own: the PUT succeeds,
// the object reads back, the other gateway's index sees it, and no copy
// is left over.
func TestCluster_StagedPutFencedByAnotherGateway(t *testing.T) {
	reg := prometheus.NewRegistry()
	cl := newClusterOpt(t, clusterOpt{staged: true, reg: reg, lookupCache: -1})
	e := cl.env
	e.mkBucket("stg")
	other := index.NewSQL(e.db)
	other.StartCache(0)
	t.Cleanup(func() { other.Close() })
	waitFor(t, func() bool { return other.CacheStats().Held })
	if _, o, err := other.BucketObject(ctx(), "stg", "k"); err != nil || o != nil {
		t.Fatalf("before the PUT: %+v, %v", o, err)
	}

	body := randBytes(4096)
	_, err := e.root().PutObject(ctx(), &s3.PutObjectInput{Bucket: aws.String("stg"), Key: aws.String("k"), Body: bytes.NewReader(body)})
	must(t, err)
	if got := requestsOf(t, reg, "UPLOAD_STAGED", "ok"); got != 1 {
		t.Fatalf("%v UPLOAD_STAGED, want 1", got)
	}
	if got := e.get("stg", "k"); !bytes.Equal(got, body) {
		t.Fatalf("%d bytes back, differ", len(got))
	}
	if _, o, err := other.BucketObject(ctx(), "stg", "k"); err != nil || o == nil || o.Size != int64(len(body)) {
		t.Fatalf("the other gateway's index after the PUT: %+v, %v", o, err)
	}
	if other.CacheStats().Held {
		t.Fatal("the other gateway still holds the lease after a write waited for it")
	}
	waitFor(t, func() bool { return storedFiles(t, cl.dir) == 2 })
}
