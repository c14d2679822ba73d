package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tnv-s3/tnv/backend/tnv"
	"github.com/tnv-s3/tnv/s3err"
)

// BlobStore is the seam between the gateway and the bytes: a TNV cluster in
// production, memory in unit tests. appid comes from the bucket.
type BlobStore interface {
	// Put stores exactly size bytes of r. An r that fails or ends early
	// fails the Put and nothing is kept.
	Put(ctx context.Context, appid, userid, fileid string, r io.Reader, size int64) error
	// Get returns size bytes from offset (size 0: to the end) of a blob
	// that an index row just read names.
	Get(ctx context.Context, appid, userid, fileid string, offset, size int64) (io.ReadCloser, error)
	// Delete removes a blob; a missing blob is ErrBlobNotFound.
	Delete(ctx context.Context, appid, userid, fileid string) error
}

// ErrBlobNotFound is what a BlobStore returns for a blob it does not have.
var ErrBlobNotFound = errors.New("gateway: blob not found")

// ErrBlobUnavailable is what a BlobStore returns when no member of the
// blob's group (or no tracker) could be reached: a retry may succeed.
var ErrBlobUnavailable = errors.New("gateway: storage unavailable")

// unavailable marks err as ErrBlobUnavailable when it says that nothing
// answered (no node, no tracker, a network error), as opposed to a refusal
// a storage node gave.
func unavailable(err error) error {
	var re *tnv.RemoteError
	if err == nil || errors.Is(err, tnv.ErrNotFound) || !errors.Is(err, tnv.ErrNoNode) && errors.As(err, &re) ||
		errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrBlobUnavailable, err)
}

// TNVStore is the BlobStore of a TNV cluster.
type TNVStore struct{ C *tnv.Client }

func (s TNVStore) Put(ctx context.Context, appid, userid, fileid string, r io.Reader, size int64) error {
	if slot := stagedSlotOf(ctx); slot != nil && !slot.taken {
		return unavailable(slot.put(ctx, s.C, appid, userid, fileid, r, size)) // staged.go
	}
	return unavailable(s.C.Upload(ctx, appid, userid, fileid, r, size))
}

// Get reads a blob that an index row the gateway has just read names: the
// row is written after the group log has the blob and removed before the
// blob is deleted, so the read tells the node it is live (DownloadLive),
// which spares the node's check of the group log.
func (s TNVStore) Get(ctx context.Context, appid, userid, fileid string, offset, size int64) (io.ReadCloser, error) {
	rc, err := s.C.DownloadLive(ctx, appid, userid, fileid, offset, size)
	if errors.Is(err, tnv.ErrNotFound) {
		return nil, fmt.Errorf("%w: %v", ErrBlobNotFound, err)
	}
	return rc, unavailable(err)
}

func (s TNVStore) Delete(ctx context.Context, appid, userid, fileid string) error {
	err := s.C.Delete(ctx, appid, userid, fileid)
	if errors.Is(err, tnv.ErrNotFound) {
		return fmt.Errorf("%w: %v", ErrBlobNotFound, err)
	}
	return err
}

// DefaultBlobSize is the largest blob an object is cut into.
const DefaultBlobSize = 64 << 20

// userShards spreads a bucket's blobs over this many TNV user IDs, which the
// tracker routes to groups independently.
const userShards = 16

// writeBlobs stores size bytes of r as blobs of at most g.blobSize each,
// under an intent record each (from the pool), and returns them. On error
// the blobs written so far are made due for collection. r must end exactly
// after size bytes: a verifying reader gives its verdict at EOF, so EOF is
// read explicitly.
func (g *Gateway) writeBlobs(ctx context.Context, appid string, r io.Reader, size int64, part int) ([]blob, []int64, error) {
	return g.writeBlobsTo(ctx, g.cfg.Blobs, appid, r, size, part)
}

// writeBlobsTo is writeBlobs into store (an encrypting one for SSE).
func (g *Gateway) writeBlobsTo(ctx context.Context, store BlobStore, appid string, r io.Reader, size int64, part int) ([]blob, []int64, error) {
	var blobs []blob
	var intents []int64
	fail := func(err error) ([]blob, []int64, error) {
		g.expediteIntents(context.WithoutCancel(ctx), intents)
		return nil, nil, err
	}
	ph := putClockOf(ctx) // phases.go; nil but in a PutObject
	for left := size; left > 0; {
		n := min(left, g.blobSize)
		in, err := g.intents.take(ctx, appid)
		if err != nil {
			return fail(err)
		}
		ph.add(phaseIntent)
		intents = append(intents, in.id)
		lr := &exactReader{r: r, n: n}
		if err := store.Put(ctx, appid, in.userid, in.fileid, lr, n); err != nil {
			if lr.err != nil {
				return fail(lr.err) // the body's fault, not the store's
			}
			return fail(&storeError{err})
		}
		if lr.n != 0 {
			return fail(errCode(s3err.IncompleteBody))
		}
		ph.add(phaseBlob)
		blobs = append(blobs, blob{UserID: in.userid, FileID: in.fileid, Size: n, Part: part})
		left -= n
	}
	// The verdict of the verifying readers comes with EOF.
	var one [1]byte
	for {
		m, err := r.Read(one[:])
		if m > 0 {
			return fail(errMsg(s3err.IncompleteBody, "The request body is longer than its declared length."))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(err)
		}
	}
	return blobs, intents, nil
}

// storeError is a failure of the storage side while a body was being
// stored, as opposed to one of the body itself: the client is told 5xx,
// never a 4xx such as IncompleteBody (SDKs do not retry those).
type storeError struct{ err error }

func (e *storeError) Error() string { return "storing the body: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// blobError maps a failure to read or write blobs to what the client is
// told: nothing reachable is 503 ServiceUnavailable (retry later), anything
// else, a blob no member has included, 500 InternalError.
func blobError(err error) *s3Error {
	if errors.Is(err, ErrBlobUnavailable) {
		e := errCode(s3err.ServiceUnavailable)
		e.cause = err
		return e
	}
	return errInternal(err)
}

// exactReader hands on at most n bytes and remembers the error of the
// reader below, so a failed Put can be blamed on the body.
type exactReader struct {
	r   io.Reader
	n   int64
	err error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= int64(n)
	if err == io.EOF {
		if e.n > 0 {
			err = io.ErrUnexpectedEOF
			e.err = errCode(s3err.IncompleteBody)
		} else {
			// EOF exactly at the end: the verdict is read again later
			// by writeBlobs; hand on what we have.
			err = nil
			if n == 0 {
				err = io.EOF
			}
		}
	} else if err != nil {
		e.err = err
	}
	return n, err
}

// blobReader streams the bytes [off, off+n) of an object whose content is
// the concatenation of blobs, opening one blob at a time.
type blobReader struct {
	ctx   context.Context
	store BlobStore
	appid string
	blobs []blob
	off   int64 // position within the remaining blobs' concatenation
	n     int64 // bytes still to deliver
	cur   io.ReadCloser
	curN  int64
	err   error
}

func newBlobReader(ctx context.Context, store BlobStore, appid string, blobs []blob, off, n int64) *blobReader {
	return &blobReader{ctx: ctx, store: store, appid: appid, blobs: blobs, off: off, n: n}
}

func (b *blobReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.n <= 0 {
		return 0, io.EOF
	}
	if b.cur == nil {
		if err := b.open(); err != nil {
			b.err = err
			return 0, err
		}
	}
	if int64(len(p)) > b.curN {
		p = p[:b.curN]
	}
	n, err := b.cur.Read(p)
	b.curN -= int64(n)
	b.n -= int64(n)
	if b.curN == 0 {
		b.cur.Close()
		b.cur = nil
		if err == io.EOF {
			err = nil
		}
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // a blob shorter than the index says
	}
	if err != nil {
		b.err = err
	}
	if b.n == 0 && err == nil {
		return n, nil
	}
	return n, err
}

// WriteTo streams the rest to w blob by blob. fasthttp hands a response body
// stream that has WriteTo its connection's writer; a blob reader that has
// WriteTo too (the TNV client's, which splices socket to socket) then moves
// the bytes without copying them through the gateway.
func (b *blobReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for b.err == nil && b.n > 0 {
		if b.cur == nil {
			if err := b.open(); err != nil {
				b.err = err
				break
			}
		}
		var n int64
		var err error
		if wt, ok := b.cur.(io.WriterTo); ok {
			n, err = wt.WriteTo(w)
		} else {
			n, err = io.Copy(w, io.LimitReader(b.cur, b.curN))
		}
		total += n
		b.curN -= n
		b.n -= n
		switch {
		case err != nil:
			b.err = err
		case b.curN != 0:
			b.err = io.ErrUnexpectedEOF // a blob shorter than the index says
		default:
			b.cur.Close()
			b.cur = nil
		}
	}
	if b.n <= 0 && b.err == nil {
		return total, nil
	}
	return total, b.err
}

// open skips whole blobs before off and opens the one holding it.
func (b *blobReader) open() error {
	for len(b.blobs) > 0 && b.off >= b.blobs[0].Size {
		b.off -= b.blobs[0].Size
		b.blobs = b.blobs[1:]
	}
	if len(b.blobs) == 0 {
		return fmt.Errorf("gateway: object shorter than its index entry")
	}
	bl := b.blobs[0]
	want := min(bl.Size-b.off, b.n)
	rc, err := b.store.Get(b.ctx, b.appid, bl.UserID, bl.FileID, b.off, want)
	if err != nil {
		return fmt.Errorf("gateway: blob %s/%s: %w", bl.UserID, bl.FileID, err)
	}
	b.cur, b.curN = rc, want
	b.off = 0
	b.blobs = b.blobs[1:]
	return nil
}

func (b *blobReader) Close() error {
	if b.cur != nil {
		b.cur.Close()
		b.cur = nil
	}
	if b.err == nil {
		b.err = errors.New("gateway: blob reader closed")
	}
	return nil
}
