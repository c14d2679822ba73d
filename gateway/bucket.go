package gateway

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"

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
	applyAccess, err := g.createBucketAccess(r) // x-amz-acl, x-amz-grant-*, x-amz-object-ownership (acl.go)
	if err != nil {
		return err
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
	if b, err := g.idx.Bucket(r.ctx, r.bucketName); err != nil {
		return errInternal(err)
	} else if err := applyAccess(b.AppID); err != nil {
		return errInternal(err)
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

func (g *Gateway) gcDue() int64 {
	return g.nowUnix() + int64(g.cfg.GCDelay.Seconds())
}
