package gateway

import (
	"errors"
	"net/http"

	"github.com/tnv-s3/tnv/gateway/lifecycle"
	"github.com/tnv-s3/tnv/s3err"
	"github.com/tnv-s3/tnv/sigv4"
)

// Put/Get/DeleteBucketLifecycleConfiguration. The configuration is checked
// as AWS checks it (gateway/lifecycle) and stored as the document to
// answer; the background pass applies it (lifecycle_pass.go).

// maxLifecycleXML bounds a PutBucketLifecycleConfiguration body: 1000
// rules with long IDs and prefixes fit; 1000 rules each with ten tags of
// the longest do not.
const maxLifecycleXML = 4 << 20

func (g *Gateway) putBucketLifecycle(r *request) error {
	if err := requireDigest(r.header); err != nil {
		return err
	}
	b, err := r.readXML(maxLifecycleXML)
	if err != nil {
		return err
	}
	p, err := lifecycle.Parse(b)
	if err != nil {
		var le *lifecycle.Error
		if errors.As(err, &le) {
			return errMsg(le.Code, "%s", le.Message)
		}
		return errInternal(err)
	}
	if err := g.idx.SetLifecycleConfig(r.ctx, r.bucketName, string(p.Doc)); err != nil {
		return bucketError(err)
	}
	return r.c.Status(http.StatusOK).Send(nil) // SendStatus would add a text body
}

func (g *Gateway) getBucketLifecycle(r *request) error {
	doc, err := g.idx.LifecycleConfig(r.ctx, r.bucketName)
	if err != nil {
		return bucketError(err)
	}
	if doc == "" {
		e := errCode(s3err.NoSuchLifecycleConfiguration)
		e.Extra = []sigv4.Field{{Name: "BucketName", Value: r.bucketName}} // as AWS sends it
		return e
	}
	r.c.Status(http.StatusOK)
	r.c.Set("Content-Type", "application/xml")
	out := append([]byte(xmlHeader), doc...)
	r.bytesOut += int64(len(out))
	return r.c.Send(out)
}

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

func (g *Gateway) deleteBucketLifecycle(r *request) error {
	if err := g.idx.SetLifecycleConfig(r.ctx, r.bucketName, ""); err != nil {
		return bucketError(err)
	}
	return r.c.Status(http.StatusNoContent).Send(nil) // SendStatus would add a text body
}

// bucketError is an index error of a bucket-level call: the bucket went
// (deleted since the request was authorised) is NoSuchBucket.
func bucketError(err error) error {
	if errors.Is(err, errNotFound) {
		return errCode(s3err.NoSuchBucket)
	}
	return toS3Error(err)
}
