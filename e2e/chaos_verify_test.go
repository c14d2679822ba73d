package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tnv-s3/tnv/internal/proctest"
	"github.com/tnv-s3/tnv/internal/tnvauth"
	"github.com/tnv-s3/tnv/proto"
)

// indexBlob is one TNV file of an object, as the gateway's index lists it
// (s3_objects.blobs, in object order).
type indexBlob struct {
	UserID string `json:"u"`
	FileID string `json:"f"`
	Size   int64  `json:"s"`
}

type indexRow struct {
	size  int64
	blobs []indexBlob
}

// index reads the bucket's objects from the gateway's index.
func (h *chaosHarness) index(ctx context.Context) (map[string]indexRow, error) {
	rows, err := h.db.QueryContext(ctx, "SELECT okey, size, blobs FROM s3_objects WHERE bucket = ?", h.bucket)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	defer rows.Close()
	out := map[string]indexRow{}
	for rows.Next() {
		var key []byte
		var r indexRow
		var blobs string
		if err := rows.Scan(&key, &r.size, &blobs); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		if err := json.Unmarshal([]byte(blobs), &r.blobs); err != nil {
			return nil, fmt.Errorf("index: blobs of %q: %w", key, err)
		}
		out[string(key)] = r
	}
	return out, rows.Err()
}

// dialMember connects to a storage node for a direct request. It is the
// one place that would run a connection handshake, should the cluster
// require one.
func dialMember(ctx context.Context, addr string) (net.Conn, error) {
	return tnvauth.Dialer(proctest.ClusterKey(), 5*time.Second)(ctx, addr)
}

// fetchCopy sends FETCH for a file to the member at addr: the member
// answers from its own copy only, never from a peer's (as DOWNLOAD may), so
// this reads what that member's disk holds. The bytes go to w; the size
// the member reports is returned.
func fetchCopy(ctx context.Context, addr, appid, userid, fileid string, w io.Writer) (int64, error) {
	return fetchCopyVia(ctx, dialMember, addr, appid, userid, fileid, w)
}

// fetchCopyVia is fetchCopy connecting with dial.
func fetchCopyVia(ctx context.Context, dial func(ctx context.Context, addr string) (net.Conn, error), addr, appid, userid, fileid string, w io.Writer) (int64, error) {
	d := proto.Download{FileRef: proto.FileRef{AppID: appid, UserID: userid, FileID: fileid}}
	body, err := d.Encode()
	if err != nil {
		return 0, err
	}
	nc, err := dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := proto.WriteFrame(nc, proto.CmdStorageFetch, proto.StatusOK, body); err != nil {
		return 0, err
	}
	hd, err := proto.ReadHeader(nc)
	if err != nil {
		return 0, err
	}
	if hd.Status != proto.StatusOK {
		b, err := proto.ReadBody(nc, hd, proto.MaxErrorBody)
		if err != nil {
			return 0, err
		}
		re, err := proto.DecodeError(b)
		if err != nil {
			return 0, err
		}
		return 0, re
	}
	if hd.Cmd != proto.CmdStorageReply || hd.BodyLen < proto.FetchReplyHeadLen {
		return 0, fmt.Errorf("FETCH reply: command %d, %d bytes", hd.Cmd, hd.BodyLen)
	}
	var hb [proto.FetchReplyHeadLen]byte
	if _, err := io.ReadFull(nc, hb[:]); err != nil {
		return 0, err
	}
	fh, err := proto.DecodeFetchReplyHead(hb[:])
	if err != nil {
		return 0, err
	}
	n := hd.BodyLen - proto.FetchReplyHeadLen
	if n != fh.FileSize {
		return 0, fmt.Errorf("FETCH reply of %d bytes for a %d-byte file", n, fh.FileSize)
	}
	if _, err := io.CopyN(w, nc, n); err != nil {
		return 0, err
	}
	return n, nil
}

// verifyStats is what one verification read.
type verifyStats struct {
	Objects, Copies, Deleted, Uncertain int
	Bytes                               int64
	Took                                time.Duration
	PerMember                           map[string]int // blobs read with FETCH, by member name
	Start                               time.Time      // when the verification began
	CopiesAt                            time.Time      // when every copy was found; zero if not by the deadline
	CopiesWaited                        bool           // some copy was missing at the first look
}

// verify checks the cluster against the ledger, with the load stopped:
//   - copies: every live object's blobs, read with FETCH from member m of
//     each blob's group, for every m, concatenate to the ledger's bytes;
//   - reads: every live object GETs byte-identical through a gateway
//     (alternating), and its index row has the ledger's size;
//   - deletes: every deleted key is absent from the index and GETs 404 on
//     every gateway;
//   - uncertain: a key whose write or delete failed is absent or holds
//     exactly the bytes sent.
//
// It returns the failures of each check by name.
//
// A copy missing or different is looked for again every second until
// copiesBy: members catch up from the group log after a fault. CopiesAt in
// the stats is when every copy was found.
func (h *chaosHarness) verify(ctx context.Context, copiesBy time.Time) (map[string][]string, verifyStats) {
	start := time.Now()
	fails := map[string][]string{"copies": nil, "reads": nil, "deletes": nil, "uncertain": nil}
	var mu sync.Mutex
	fail := func(check, format string, args ...any) {
		mu.Lock()
		fails[check] = append(fails[check], fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	st := verifyStats{PerMember: map[string]int{}, Start: start}
	live, deleted, uncertain := h.led.snapshot()
	idx, err := h.index(ctx)
	if err != nil {
		fail("reads", "%v", err)
		return fails, st
	}
	st.Objects, st.Deleted, st.Uncertain = len(live), len(deleted), len(uncertain)

	type job struct {
		e     ledgerEntry
		check string // "live" or "uncertain"
		n     int
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	retry := map[string]indexRow{} // keys with a copy missing or different
	lastMissing := map[string][]string{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				row, ok := idx[j.e.Key]
				if j.check == "uncertain" {
					if ok {
						if m := h.checkPresent(ctx, j.e, row, j.n, "uncertain", fail, &mu, &st); m != nil {
							mu.Lock()
							retry[j.e.Key], lastMissing[j.e.Key] = row, m
							mu.Unlock()
						}
					}
					continue
				}
				if !ok {
					fail("reads", "%s (%d bytes, acknowledged %s): not in the index", j.e.Key, j.e.Size, j.e.At.Format(time.TimeOnly))
					continue
				}
				if m := h.checkPresent(ctx, j.e, row, j.n, "reads", fail, &mu, &st); m != nil {
					mu.Lock()
					retry[j.e.Key], lastMissing[j.e.Key] = row, m
					mu.Unlock()
				}
			}
		}()
	}
	for i, e := range live {
		jobs <- job{e, "live", i}
	}
	for i, e := range uncertain {
		jobs <- job{e, "uncertain", i}
	}
	close(jobs)
	wg.Wait()

	byKey := map[string]ledgerEntry{}
	for _, e := range append(live, uncertain...) {
		byKey[e.Key] = e
	}
	st.CopiesWaited = len(retry) > 0
	for len(retry) > 0 && time.Now().Before(copiesBy) {
		time.Sleep(time.Second)
		for k, row := range retry {
			if m := h.checkCopies(ctx, byKey[k], row, &mu, &st); m != nil {
				lastMissing[k] = m
			} else {
				delete(retry, k)
				delete(lastMissing, k)
			}
		}
	}
	st.CopiesAt = time.Now()
	for _, m := range lastMissing {
		fails["copies"] = append(fails["copies"], m...)
		st.CopiesAt = time.Time{}
	}

	// Every deleted key is looked up in the index (what every GET reads
	// first); a HEAD through each gateway asks for the keys deleted since
	// the last verification and a sixteenth of the older ones.
	h.verifyRound++
	for i, e := range deleted {
		if _, ok := idx[e.Key]; ok {
			fail("deletes", "%s: deleted, yet in the index", e.Key)
		}
		if h.headChecked[e.Key] && i%16 != h.verifyRound%16 {
			continue
		}
		h.headChecked[e.Key] = true
		for gw, c := range h.s3 {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(e.Key)})
			if err == nil || !strings.HasPrefix(errKind(err), "404 ") {
				fail("deletes", "%s: deleted, yet HEAD through gateway %d answers %v", e.Key, gw+1, err)
			}
		}
	}
	st.Took = time.Since(start)
	return fails, st
}

// checkPresent checks an object the index has: its size, every member's
// copy of its blobs (failures returned, for a retry), and a GET through a
// gateway (failures to check).
func (h *chaosHarness) checkPresent(ctx context.Context, e ledgerEntry, row indexRow, n int, check string,
	fail func(check, format string, args ...any), mu *sync.Mutex, st *verifyStats) []string {
	if row.size != e.Size {
		fail(check, "%s: index says %d bytes, the ledger %d", e.Key, row.size, e.Size)
		return nil
	}
	missing := h.checkCopies(ctx, e, row, mu, st)
	if kind, _, detail := h.readCheck(h.s3[n%len(h.s3)], e); kind != "" {
		fail(check, "GET %s through gateway %d: %s: %s", e.Key, n%len(h.s3)+1, kind, detail)
	}
	mu.Lock()
	st.Bytes += e.Size
	mu.Unlock()
	return missing
}

// checkCopies reads every member's copy of the object's blobs with FETCH
// and compares the bytes with the ledger; it returns what is missing or
// differs.
func (h *chaosHarness) checkCopies(ctx context.Context, e ledgerEntry, row indexRow, mu *sync.Mutex, st *verifyStats) []string {
	var fails []string
	members := 0
	for _, g := range h.c.Groups {
		members = max(members, len(g))
	}
	for m := range members {
		sum := sha256.New()
		var got int64
		ok := true
		for _, b := range row.blobs {
			addr, err := h.memberOf(ctx, b, m)
			if err != nil {
				fails = append(fails, fmt.Sprintf("%s: blob %s: %v", e.Key, b.FileID, err))
				ok = false
				break
			}
			k, err := fetchCopy(ctx, addr, h.appid, b.UserID, b.FileID, sum)
			got += k
			mu.Lock()
			st.PerMember[h.nameOf(addr)]++
			mu.Unlock()
			if err != nil {
				fails = append(fails, fmt.Sprintf("%s: blob %s on member %s (%s): %v", e.Key, b.FileID, h.nameOf(addr), addr, err))
				ok = false
				break
			}
		}
		if ok && (got != e.Size || !equalSum(sum, e.Sum)) {
			fails = append(fails, fmt.Sprintf("%s: member %d's copies hold %d bytes that differ from the ledger's %d", e.Key, m+1, got, e.Size))
		}
		mu.Lock()
		st.Copies++
		st.Bytes += got
		mu.Unlock()
	}
	return fails
}

func equalSum(h hash.Hash, want [32]byte) bool { return [32]byte(h.Sum(nil)) == want }

// memberOf returns the address of member m of the group the trackers route
// blob b to.
func (h *chaosHarness) memberOf(ctx context.Context, b indexBlob, m int) (string, error) {
	h.groupMu.Lock()
	g, ok := h.groupOf[b.UserID]
	h.groupMu.Unlock()
	if !ok {
		name, _, err := h.tnvc.Locate(ctx, h.appid, b.UserID, b.FileID)
		if err != nil {
			return "", fmt.Errorf("locate: %w", err)
		}
		g = -1
		for i := range h.c.Groups {
			if proctest.GroupName(i) == name {
				g = i
			}
		}
		if g < 0 {
			return "", fmt.Errorf("routed to unknown group %q", name)
		}
		h.groupMu.Lock()
		h.groupOf[b.UserID] = g
		h.groupMu.Unlock()
	}
	if m >= len(h.c.Groups[g]) {
		return "", errors.New("no such member")
	}
	return h.c.Groups[g][m].Addr, nil
}

// nameOf returns the name of the member at addr.
func (h *chaosHarness) nameOf(addr string) string {
	for _, p := range h.c.Members() {
		if p.Addr == addr {
			return p.Name
		}
	}
	return addr
}

// selfCheck shows, on the running cluster, that the copies check sees what
// it is there to see: a canary object (not in the ledger) whose copy on one
// member has a flipped byte, and a blob no member has, are both reported.
func (h *chaosHarness) selfCheck(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	data := payload(0xcafe, 64<<10)
	e := ledgerEntry{Key: "canary/1", Size: int64(len(data)), Sum: sha256.Sum256(data)}
	if _, err := h.s3[0].PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(e.Key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(e.Size)}); err != nil {
		t.Fatalf("canary: %v", err)
	}
	defer h.s3[0].DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(h.bucket), Key: aws.String(e.Key)})
	idx, err := h.index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	row := idx[e.Key]
	var mu sync.Mutex
	st := verifyStats{PerMember: map[string]int{}}
	if f := h.checkCopies(ctx, e, row, &mu, &st); f != nil {
		t.Fatalf("canary, intact: %v", f)
	}
	b := row.blobs[0]
	addr, err := h.memberOf(ctx, b, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := h.copyPath(t, addr, b)
	flipByte(t, p, 1000)
	f := h.checkCopies(ctx, e, row, &mu, &st)
	if len(f) != 1 || !strings.Contains(f[0], h.nameOf(addr)) {
		t.Fatalf("canary with a flipped byte in %s's copy: copies check reported %q, want one failure naming it", h.nameOf(addr), f)
	}
	t.Logf("self-check: a flipped byte in one copy is reported: %s", f[0])
	flipByte(t, p, 1000) // back as it was, for the gateway's GC to delete
	gone := indexRow{size: row.size, blobs: []indexBlob{{UserID: b.UserID, FileID: "nosuchfile" + b.FileID[10:], Size: b.Size}}}
	if f := h.checkCopies(ctx, e, gone, &mu, &st); len(f) != 2 {
		t.Fatalf("a blob no member has: copies check reported %q, want a failure per member", f)
	}
}

// copyPath returns the path of the member's own copy of b, from its row
// in the storage node's tables (t_file_01..03, by user ID shard).
func (h *chaosHarness) copyPath(t *testing.T, addr string, b indexBlob) string {
	t.Helper()
	var store string
	for _, p := range h.c.Members() {
		if p.Addr == addr {
			store = argAfter(p.Args, "--store")
		}
	}
	var rel string
	err := h.db.QueryRow(`SELECT path FROM t_file_01 WHERE node = ? AND appid = ? AND userid = ? AND fileid = ?
		UNION ALL SELECT path FROM t_file_02 WHERE node = ? AND appid = ? AND userid = ? AND fileid = ?
		UNION ALL SELECT path FROM t_file_03 WHERE node = ? AND appid = ? AND userid = ? AND fileid = ?`,
		addr, h.appid, b.UserID, b.FileID, addr, h.appid, b.UserID, b.FileID, addr, h.appid, b.UserID, b.FileID).Scan(&rel)
	if err != nil {
		t.Fatalf("row of %s on %s: %v", b.FileID, addr, err)
	}
	return filepath.Join(store, rel)
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}
