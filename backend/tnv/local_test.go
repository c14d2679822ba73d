package tnv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// fakeLocal is a storage node "in this process": files on disk, or an
// error to give.
type fakeLocal struct {
	dir   string
	err   error // returned by every OpenLocal when set
	opens int
}

func (l *fakeLocal) put(t *testing.T, fileid string, data []byte) {
	if err := os.WriteFile(filepath.Join(l.dir, fileid), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (l *fakeLocal) OpenLocal(ctx context.Context, appid, userid, fileid string, offset, size int64, live bool) (*os.File, int64, error) {
	l.opens++
	if l.err != nil {
		return nil, 0, l.err
	}
	f, err := os.Open(filepath.Join(l.dir, fileid))
	if err != nil {
		return nil, 0, proto.Errorf(proto.ENOENT, "no file %s", fileid)
	}
	fi, _ := f.Stat()
	n := fi.Size() - offset
	if size > 0 {
		n = size
	}
	f.Seek(offset, io.SeekStart)
	return f, n, nil
}

// A download from a node in this process opens its file (no connection to
// any storage node); its answers count as the node's (ENOENT on every
// member is ErrNotFound), and any other failure falls back to DOWNLOAD.
func TestDownload_LocalNode(t *testing.T) {
	cl := newCluster(t, 1)
	local := &fakeLocal{dir: t.TempDir()}
	c, err := New(Config{Trackers: []string{cl.tracker.addr()}, DialTimeout: time.Second, IOTimeout: 5 * time.Second, LocateTTL: -1,
		Local: func(addr string) LocalNode {
			if addr == cl.nodes[0].addr() {
				return local
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	data := randBytes(3 << 20)
	local.put(t, "f", data)

	rc, err := c.Download(ctx, "app", "u1", "f", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if n, err := io.Copy(&b, rc); err != nil || n != int64(len(data)) || !bytes.Equal(b.Bytes(), data) {
		t.Fatalf("local download through WriteTo: %d bytes, %v", n, err)
	}
	rc.Close()
	rc, err = c.Download(ctx, "app", "u1", "f", 1000, 5000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(struct{ io.Reader }{rc}) // Read, not WriteTo
	rc.Close()
	if err != nil || !bytes.Equal(got, data[1000:6000]) {
		t.Fatalf("local range through Read: %d bytes, %v", len(got), err)
	}
	if n := cl.nodes[0].accepts.Load(); n != 0 || local.opens != 2 {
		t.Fatalf("%d connections to the node, %d local opens; want 0 and 2", n, local.opens)
	}

	if _, err := c.Download(ctx, "app", "u1", "nope", 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing locally: %v, want ErrNotFound", err)
	}
	if n := cl.nodes[0].accepts.Load(); n != 0 {
		t.Fatalf("the node's own ENOENT went to the network too (%d connections)", n)
	}

	// No good local copy: DOWNLOAD over the network.
	cl.mirror(proto.FileRef{AppID: "app", UserID: "u1", FileID: "g"}, []byte("from the wire"))
	local.err = errors.New("no local copy")
	b.Reset()
	if _, err := c.DownloadTo(ctx, "app", "u1", "g", 0, 0, &b); err != nil || b.String() != "from the wire" {
		t.Fatalf("fallback: %q, %v", b.String(), err)
	}
	if cl.nodes[0].accepts.Load() == 0 {
		t.Fatal("fallback did not use the network")
	}
}
