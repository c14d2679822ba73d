package gateway

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/gateway/policy"
	"github.com/tnv-s3/tnv/metadb"
	"github.com/tnv-s3/tnv/s3err"
)

func (g *Gateway) putBucketPolicy(r *request) error {
	body, err := r.body()
	if err != nil {
		return err
	}
	doc, err := io.ReadAll(io.LimitReader(body, policy.MaxSize+1))
	if err != nil {
		return err
	}
	if len(doc) > policy.MaxSize {
		return errMsg(s3err.MalformedPolicy, "Policy exceeds the maximum allowed document size.")
	}
	if err := g.checkPolicy(r.ctx, doc, r.bucketName); err != nil {
		return err
	}
	if err := g.idx.SetBucketPolicy(r.ctx, r.bucket.AppID, string(doc)); err != nil {
		return errInternal(err)
	}
	g.forgetAccess(r.bucket.AppID)
	return r.c.Status(http.StatusNoContent).Send(nil)
}

// checkPolicy parses a policy of bucket and checks that the users it names
// exist, as AWS refuses principals it does not know.
func (g *Gateway) checkPolicy(ctx context.Context, doc []byte, bucket string) error {
	p, err := policy.Parse(doc, bucket)
	var me *policy.MalformedError
	if errors.As(err, &me) {
		return errMsg(s3err.MalformedPolicy, "%s", me.Reason)
	}
	if err != nil {
		return errInternal(err)
	}
	for _, u := range p.Users() {
		if u == g.cfg.AccessKey {
			continue
		}
		_, ok, err := g.idx.Secret(ctx, u)
		if err != nil {
			return errInternal(err)
		}
		if !ok {
			return errMsg(s3err.MalformedPolicy, "Invalid principal in policy: no user %s", u)
		}
	}
	return nil
}

func (g *Gateway) getBucketPolicy(r *request) error {
	a, err := g.idx.BucketAccess(r.ctx, r.bucket.AppID)
	if err != nil {
		return errInternal(err)
	}
	if a.Policy == "" {
		return errCode(s3err.NoSuchBucketPolicy)
	}
	r.c.Set("Content-Type", "application/json")
	r.bytesOut += int64(len(a.Policy))
	return r.c.Status(http.StatusOK).SendString(a.Policy)
}

func (g *Gateway) deleteBucketPolicy(r *request) error {
	if err := g.idx.SetBucketPolicy(r.ctx, r.bucket.AppID, ""); err != nil {
		return errInternal(err)
	}
	g.forgetAccess(r.bucket.AppID)
	return r.c.Status(http.StatusNoContent).Send(nil)
}

type policyStatus struct {
	XMLName  xml.Name `xml:"PolicyStatus"`
	Xmlns    string   `xml:"xmlns,attr"`
	IsPublic bool
}

func (g *Gateway) getBucketPolicyStatus(r *request) error {
	a, err := g.idx.BucketAccess(r.ctx, r.bucket.AppID)
	if err != nil {
		return errInternal(err)
	}
	if a.Policy == "" {
		return errCode(s3err.NoSuchBucketPolicy)
	}
	p, err := policy.Parse([]byte(a.Policy), r.bucketName)
	if err != nil {
		return errInternal(err)
	}
	return r.sendXML(http.StatusOK, policyStatus{Xmlns: xmlns, IsPublic: p.IsPublic()})
}

// SetBucketPublic serves `tnv admin bucket public NAME on|off [--list]`:
// on writes the read-only policy (s3:GetObject on every key; list adds
// s3:ListBucket), replacing the bucket's policy; off removes the policy.
// Gateways see the change within accessTTL.
func SetBucketPublic(ctx context.Context, db *metadb.DB, name string, on, list bool) error {
	idx := index.NewSQL(db)
	defer idx.Close()
	b, err := idx.Bucket(ctx, name)
	if err != nil {
		return err
	}
	doc := ""
	if on {
		doc = policy.PublicRead(name, list)
	}
	return idx.SetBucketPolicy(ctx, b.AppID, doc)
}

// BucketPublic tells whether a bucket's policy is public (the bucket list).
func BucketPublic(ctx context.Context, db *metadb.DB, b *Bucket) (bool, error) {
	idx := index.NewSQL(db)
	defer idx.Close()
	a, err := idx.BucketAccess(ctx, b.AppID)
	if err != nil || a.Policy == "" {
		return false, err
	}
	p, err := policy.Parse([]byte(a.Policy), b.Name)
	if err != nil {
		return false, err
	}
	return p.IsPublic(), nil
}
