package gateway

import (
	"errors"

	"github.com/tnv-s3/tnv/s3err"
)

// Conditional writes (PutObject, CompleteMultipartUpload and CopyObject's
// destination), as AWS defines them: If-None-Match accepts only "*" (the
// key must not exist, else 412 PreconditionFailed); If-Match names the
// ETag the object under the key must have (412 when it has another, 404
// NoSuchKey when there is none). Any other If-None-Match value, or both
// headers at once, is 501 NotImplemented, as AWS answers.

// writeConditions checks a write's conditions against the object now under
// the key, before any byte is read or copied, and returns them for the
// index to check again in the transaction that publishes the write (a
// write that raced in between is refused there).
func (g *Gateway) writeConditions(r *request) (putCond, error) {
	c := putCond{Versioning: r.bucket.Versioning}
	inm, im := r.header.Get("If-None-Match"), r.header.Get("If-Match")
	switch {
	case inm != "" && im != "":
		return c, errMsg(s3err.NotImplemented, "If-Match and If-None-Match together are not implemented on a write.")
	case inm == "*":
		c.IfNoneMatchStar = true
	case inm != "":
		return c, errMsg(s3err.NotImplemented, "If-None-Match on a write supports only *.")
	case im == "":
		return c, nil
	}
	cur, err := g.idx.Object(r.ctx, r.bucketName, r.key)
	missing := errors.Is(err, errNotFound)
	if err != nil && !missing {
		return c, errInternal(err)
	}
	switch {
	case c.IfNoneMatchStar && !missing:
		return c, errCode(s3err.PreconditionFailed)
	case im != "" && missing:
		return c, errCode(s3err.NoSuchKey)
	case im != "" && !etagMatches(im, cur.ETag):
		return c, errCode(s3err.PreconditionFailed)
	case im != "":
		// the ETag that matched, and no write in between
		c.IfMatch, c.IfVersion = cur.ETag, cur.Version
	}
	return c, nil
}

// writeError is what the client is told of an index refusal of a
// conditional write: the object If-Match named is gone (NoSuchKey), or
// any refusal as toS3Error tells it.
func writeError(err error) *s3Error {
	if errors.Is(err, errNotFound) {
		e := errCode(s3err.NoSuchKey)
		e.cause = err
		return e
	}
	return toS3Error(err)
}
