package gateway

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/s3err"
)

func (g *Gateway) listBuckets(r *request) error {
	filter := r.user
	if r.root {
		filter = ""
	}
	bs, err := g.idx.Buckets(r.ctx, filter)
	if err != nil {
		return errInternal(err)
	}
	res := listAllMyBucketsResult{Xmlns: xmlns, Owner: owner{ID: r.user, DisplayName: r.user}}
	for _, b := range bs {
		res.Buckets.Bucket = append(res.Buckets.Bucket, bucketEntry{Name: b.Name, CreationDate: isoTime(b.Created)})
	}
	return r.sendXML(http.StatusOK, res)
}

func (g *Gateway) createBucket(r *request) error {
	if !validBucketName(r.bucketName) || reservedBucketName(r.bucketName) {
		return errCode(s3err.InvalidBucketName)
	}
	body, err := r.readXML(64 << 10)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		var cfg createBucketConfiguration
		if err := xml.Unmarshal(body, &cfg); err != nil {
			return errCode(s3err.MalformedXML)
		}
		// Any region is accepted: the gateway has one, and clients
		// configured for another still mean this one.
	}
	existing, err := g.idx.CreateBucket(r.ctx, r.bucketName, r.user)
	if err != nil {
		return errInternal(err)
	}
	if existing != nil {
		if existing.Owner == r.user {
			return errCode(s3err.BucketAlreadyOwnedByYou)
		}
		return errCode(s3err.BucketAlreadyExists)
	}
	if strings.EqualFold(r.header.Get("X-Amz-Bucket-Object-Lock-Enabled"), "true") {
		if err := g.enableObjectLock(r); err != nil { // objectlock.go
			return err
		}
	}
	r.c.Set("Location", "/"+r.bucketName)
	return r.c.Status(http.StatusOK).Send(nil) // SendStatus would add a text body
}

func (g *Gateway) deleteBucket(r *request) error {
	if err := g.idx.DeleteBucket(r.ctx, r.bucket, g.gcDue()); err != nil {
		return toS3Error(err) // an index refusal as S3 answers it, anything else InternalError
	}
	g.intents.forget(context.WithoutCancel(r.ctx), r.bucket.AppID)
	return r.c.Status(http.StatusNoContent).Send(nil) // SendStatus would add a text body
}

func (g *Gateway) headBucket(r *request) error {
	r.c.Set("x-amz-bucket-region", g.cfg.Region)
	return r.c.Status(http.StatusOK).Send(nil) // SendStatus would add a text body
}

func (g *Gateway) getBucketLocation(r *request) error {
	loc := g.cfg.Region
	if loc == "us-east-1" {
		loc = "" // what S3 answers for its first region
	}
	return r.sendXML(http.StatusOK, locationConstraint{Xmlns: xmlns, Value: loc})
}

// getACL answers the canned private ACL: the owner has full control.
func (g *Gateway) getACL(r *request) error {
	if r.hasKey {
		o, err := g.loadVersion(r) // versioning.go
		if err != nil {
			return err
		}
		if r.bucket.Versioning != index.Unversioned {
			r.c.Set("x-amz-version-id", o.VersionID)
		}
	}
	o := owner{ID: r.bucket.Owner, DisplayName: r.bucket.Owner}
	p := accessControlPolicy{Xmlns: xmlns, Owner: o}
	p.AccessControlList.Grant = []grant{{
		Grantee:    grantee{XMLNS: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName},
		Permission: "FULL_CONTROL",
	}}
	return r.sendXML(http.StatusOK, p)
}

func (g *Gateway) gcDue() int64 {
	return g.nowUnix() + int64(g.cfg.GCDelay.Seconds())
}
