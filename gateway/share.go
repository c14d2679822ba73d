package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/s3err"
)

// Share links (docs/sharing.md): POST /_tnv/share makes a token that lets
// anyone read the keys of one bucket under a prefix until it expires or is
// revoked, as /_tnv/share/<TOKEN>/<rest>. A playlist's relative segment
// URLs resolve under the same token, so HLS and DASH play as stored.
//
// Limits on a share request body and link.
const (
	maxShareBody    = 4 << 10
	maxShareExpires = 366 * 24 * 3600 // a year, in seconds
	maxShareViewers = 1_000_000
)

// shareRequest is the JSON body of POST /_tnv/share.
type shareRequest struct {
	Bucket     string `json:"bucket"`
	Prefix     string `json:"prefix"`
	ExpiresIn  *int64 `json:"expires_in"`
	MaxViewers int    `json:"max_viewers"`
	Rate       int64  `json:"rate"`
}

// shareResponse is the 201 answer to it.
type shareResponse struct {
	URL     string `json:"url"`
	Token   string `json:"token"`
	Expires string `json:"expires"`
}

// serveShare handles every request whose path, as sent, is under
// /_tnv/share; the rest go on. It runs before the reserved routes' guard:
// creating and revoking links needs a signature of a key that may read the
// bucket, not an admin's, and reading through a link needs nothing.
func (g *Gateway) serveShare(c *fiber.Ctx) error {
	raw, _, _ := strings.Cut(string(c.Request().Header.RequestURI()), "?")
	if raw != sharePrefix && !strings.HasPrefix(raw, sharePrefix+"/") {
		return c.Next()
	}
	rctx, cancel := context.WithCancel(g.ctx)
	defer cancel()
	r := &request{g: g, c: c, id: newRequestID(), start: time.Now(), ctx: rctx, op: "Share"}
	c.Set("x-amz-request-id", r.id)
	c.Set("x-amz-id-2", r.id)
	err := r.parse()
	if err == nil {
		err = g.share(r)
	} else {
		r.bucketName, r.key = "", "" // no token in logs
	}
	// Players run on other sites: every answer, refusals included, may be
	// read by any origin. Links carry no cookies or credentials.
	c.Set("Access-Control-Allow-Origin", "*")
	c.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified, Content-Type, x-amz-request-id")
	if err != nil {
		r.writeError(err)
		g.shareMetrics().refused(r.op, err)
	}
	r.finishBody()
	if r.sending != nil && r.c.Response().IsBodyStream() {
		r.sending.line = r.line(err)
	} else {
		l := r.line(err)
		l.write()
	}
	return nil
}

// share routes a share request.
func (g *Gateway) share(r *request) error {
	if r.rawPath == sharePrefix || r.rawPath == sharePrefix+"/" {
		switch r.method {
		case "POST":
			r.op = "CreateShare"
			return g.createShare(r)
		case "OPTIONS":
			return r.sharePreflight()
		}
		return errCode(s3err.MethodNotAllowed)
	}
	token, rest, hasSlash, err := parseSharePath(r.rawPath)
	// The S3 fields of the request describe the link's object, not
	// "_tnv/share/...", in logs and error documents.
	r.bucketName, r.key, r.hasKey = "", "", false
	switch {
	case errors.Is(err, errTraversal):
		r.op = "ShareRefused"
		return errMsg(s3err.InvalidURI, "A share link's path must be a plain key below its prefix.")
	case err != nil:
		r.op = "ShareRefused"
		return errMsg(s3err.AccessDenied, "This is not a valid share link.")
	}
	switch r.method {
	case "GET", "HEAD":
		r.op = "ShareGetObject"
		if r.method == "HEAD" {
			r.op = "ShareHeadObject"
		}
		return g.readShared(r, token, rest)
	case "DELETE":
		r.op = "RevokeShare"
		if hasSlash && rest != "" {
			return errMsg(s3err.InvalidRequest, "DELETE the link itself: /_tnv/share/<TOKEN>.")
		}
		return g.revokeShare(r, token)
	case "OPTIONS":
		return r.sharePreflight()
	}
	return errCode(s3err.MethodNotAllowed)
}

// sharePreflight answers a CORS preflight for any origin.
func (r *request) sharePreflight() error {
	r.op = "SharePreflight"
	r.c.Set("Access-Control-Allow-Methods", "GET, HEAD")
	if h := r.header.Get("Access-Control-Request-Headers"); h != "" {
		r.c.Set("Access-Control-Allow-Headers", h)
	}
	r.c.Set("Access-Control-Max-Age", "3600")
	r.c.Status(http.StatusOK)
	return nil
}

// mayRead tells whether the signed request's key may read the keys under
// prefix in bucket b: the root key, the owner, a user the bucket's policy
// lets read them (s3:GetObject on prefix*).
func (r *request) mayRead(b *Bucket, prefix string) bool {
	return r.user != "" && r.g.authorizeAs(r, r.user, "s3:GetObject", b, prefix+"*", nil) == nil
}

func (g *Gateway) createShare(r *request) error {
	if err := r.authenticate(); err != nil {
		return err
	}
	if r.user == "" {
		return errMsg(s3err.AccessDenied, "Making a share link needs a signed request.")
	}
	body, err := r.body()
	if err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(body, maxShareBody+1))
	if err != nil {
		return bodyError(err)
	}
	if len(b) > maxShareBody {
		return errMsg(s3err.InvalidArgument, "The share request is larger than %d bytes.", maxShareBody)
	}
	var req shareRequest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return errMsg(s3err.InvalidArgument, "The share request is not valid JSON: %v.", err)
	}
	switch {
	case !validBucketName(req.Bucket):
		return errMsg(s3err.InvalidArgument, "bucket must be a bucket name.")
	case len(req.Prefix) > 1024 || !utf8.ValidString(req.Prefix):
		return errMsg(s3err.InvalidArgument, "prefix must be UTF-8 of at most 1024 bytes.")
	case req.ExpiresIn == nil || *req.ExpiresIn < 1 || *req.ExpiresIn > maxShareExpires:
		return errMsg(s3err.InvalidArgument, "expires_in must be 1 to %d seconds.", maxShareExpires)
	case req.MaxViewers < 0 || req.MaxViewers > maxShareViewers:
		return errMsg(s3err.InvalidArgument, "max_viewers must be 0 (no limit) to %d.", maxShareViewers)
	case req.Rate < 0 || (req.Rate > 0 && req.Rate < minShareRate):
		return errMsg(s3err.InvalidArgument, "rate must be 0 (no cap) or at least %d bytes per second.", minShareRate)
	}
	r.bucketName = req.Bucket
	bk, err := g.idx.Bucket(r.ctx, req.Bucket)
	if errors.Is(err, errNotFound) {
		return errCode(s3err.NoSuchBucket)
	}
	if err != nil {
		return errInternal(err)
	}
	if !r.mayRead(bk, req.Prefix) {
		return errMsg(s3err.AccessDenied, "Only a key that may read the bucket can share it.")
	}
	now := g.cfg.Now().UTC().Truncate(time.Second)
	token, hash := newShareToken()
	s := &index.Share{Hash: hash, Bucket: req.Bucket, AppID: bk.AppID, Prefix: req.Prefix, Owner: r.user, Created: now,
		Expires: now.Add(time.Duration(*req.ExpiresIn) * time.Second), MaxViewers: req.MaxViewers, Rate: req.Rate}
	if err := g.idx.CreateShare(r.ctx, s); err != nil {
		return errInternal(err)
	}
	scheme := "http"
	if g.cfg.TLS != nil {
		scheme = "https"
	}
	out, _ := json.Marshal(shareResponse{URL: scheme + "://" + r.host + sharePrefix + "/" + token + "/", Token: token,
		Expires: s.Expires.Format(time.RFC3339)})
	r.c.Status(http.StatusCreated)
	r.c.Set("Content-Type", "application/json")
	r.bytesOut = int64(len(out))
	return r.c.Send(out)
}

// revokeShare revokes a link for the key that made it, the bucket's owner
// or the root key. Other gateways see it within shareCacheTTL.
func (g *Gateway) revokeShare(r *request, token string) error {
	if err := r.authenticate(); err != nil {
		return err
	}
	if r.user == "" {
		return errMsg(s3err.AccessDenied, "Revoking a share link needs a signed request.")
	}
	hash := shareHash(token)
	s, err := g.idx.Share(r.ctx, hash)
	if errors.Is(err, errNotFound) {
		return errMsg(s3err.NoSuchKey, "No such share link.")
	}
	if err != nil {
		return errInternal(err)
	}
	r.bucketName = s.Bucket
	allowed := r.root || r.user == s.Owner
	if !allowed {
		b, err := g.idx.Bucket(r.ctx, s.Bucket)
		if err != nil && !errors.Is(err, errNotFound) {
			return errInternal(err)
		}
		allowed = err == nil && b.Owner == r.user
	}
	if !allowed {
		return errMsg(s3err.AccessDenied, "Only the link's maker, the bucket's owner or the root key may revoke it.")
	}
	if err := g.idx.RevokeShare(r.ctx, hash); err != nil {
		return errInternal(err)
	}
	g.shares.forget(hash)
	r.c.Status(http.StatusNoContent)
	return nil
}

// readShared serves GET and HEAD of prefix+rest through a link, with
// GetObject's code: Range, conditions, ETag, streaming.
func (g *Gateway) readShared(r *request, token, rest string) error {
	hash := shareHash(token)
	s, err := g.shares.lookup(r.ctx, g.idx, hash)
	if err != nil {
		return errInternal(err)
	}
	switch {
	case s == nil:
		return shareRefusal("unknown", "This is not a valid share link.")
	case s.Revoked:
		return shareRefusal("revoked", "This share link was revoked.")
	case !g.cfg.Now().Before(s.Expires):
		return shareRefusal("expired", "This share link has expired.")
	}
	addr := g.clientAddr(r.c)
	v, err := g.shares.admit(r.ctx, g.idx, s, addr, g.cfg.Now())
	if err != nil {
		return errInternal(err)
	}
	if v == nil {
		return shareRefusal("viewers", "This share link has all the viewers it allows.")
	}
	r.bucketName, r.key, r.hasKey = s.Bucket, s.Prefix+rest, true
	if len(r.key) > 1024 {
		return errCode(s3err.KeyTooLongError)
	}
	b, o, err := g.idx.BucketObject(r.ctx, r.bucketName, r.key)
	if errors.Is(err, errNotFound) { // the bucket went
		return errCode(s3err.NoSuchKey)
	}
	if err != nil {
		return errInternal(err)
	}
	if b.AppID != s.AppID {
		// The bucket was deleted and made again, maybe by someone else,
		// since the link was made: the link was for the old one.
		return shareRefusal("unknown", "This share link's bucket no longer exists.")
	}
	r.bucket, r.obj, r.objLoaded = b, o, true
	r.pace = v.pace
	return g.readObject(r, r.method == "GET")
}

// shareRefusal is a 403 with the reason counted in the metrics.
func shareRefusal(reason, msg string) error {
	return &refusal{reason: reason, err: errMsg(s3err.AccessDenied, "%s", msg)}
}

type refusal struct {
	reason string
	err    *s3Error
}

func (e *refusal) Error() string { return e.err.Error() }
func (e *refusal) Unwrap() error { return e.err }
