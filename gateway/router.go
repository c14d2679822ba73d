package gateway

import (
	"errors"

	"github.com/tnv-s3/tnv/s3err"
)

type level int

const (
	levelService level = iota
	levelBucket
	levelObject
)

type handler func(r *request) error

// route is one operation: method + level + a query argument (or header)
// that must be present. The first match wins, so routes with a
// sub-resource come before the plain one.
type route struct {
	method string
	level  level
	query  string // "" or a query argument that must be present
	header string // "" or a header that must be present
	op     string
	h      handler
	read   bool // a read (bucket policies and ACLs decide who may: access.go)
	// formAuth: the request's credentials are in its body (POST Object);
	// the handler authenticates and authorises it (post.go).
	formAuth bool
}

// unsupported sub-resources answer NotImplemented, so that none of them
// falls through to, say, PutObject or ListObjects.
var unsupportedBucket = []string{
	"accelerate", "analytics", "intelligent-tiering", "inventory", "logging",
	"metrics", "notification",
	"publicAccessBlock", "replication", "requestPayment", "website", "metadataTable",
	"metadataConfiguration", "session",
}

var unsupportedObject = []string{
	"torrent", "restore", "select", "renameObject",
}

func (g *Gateway) routes() []route {
	return []route{
		{method: "GET", level: levelService, op: "ListBuckets", h: g.listBuckets},

		{method: "PUT", level: levelBucket, query: "cors", op: "PutBucketCors", h: g.putBucketCors},
		{method: "PUT", level: levelBucket, query: "tagging", op: "PutBucketTagging", h: g.putBucketTagging},
		{method: "GET", level: levelBucket, query: "tagging", op: "GetBucketTagging", h: g.getBucketTagging},
		{method: "DELETE", level: levelBucket, query: "tagging", op: "DeleteBucketTagging", h: g.deleteBucketTagging},
		{method: "PUT", level: levelBucket, query: "encryption", op: "PutBucketEncryption", h: g.putBucketEncryption},
		{method: "GET", level: levelBucket, query: "encryption", op: "GetBucketEncryption", h: g.getBucketEncryption},
		{method: "DELETE", level: levelBucket, query: "encryption", op: "DeleteBucketEncryption", h: g.deleteBucketEncryption},
		{method: "PUT", level: levelBucket, query: "acl", op: "PutBucketAcl", h: g.putBucketACL},
		{method: "PUT", level: levelBucket, query: "policy", op: "PutBucketPolicy", h: g.putBucketPolicy},
		{method: "GET", level: levelBucket, query: "policy", op: "GetBucketPolicy", h: g.getBucketPolicy},
		{method: "DELETE", level: levelBucket, query: "policy", op: "DeleteBucketPolicy", h: g.deleteBucketPolicy},
		{method: "GET", level: levelBucket, query: "policyStatus", op: "GetBucketPolicyStatus", h: g.getBucketPolicyStatus},
		{method: "PUT", level: levelBucket, query: "ownershipControls", op: "PutBucketOwnershipControls", h: g.putOwnershipControls},
		{method: "GET", level: levelBucket, query: "ownershipControls", op: "GetBucketOwnershipControls", h: g.getOwnershipControls},
		{method: "DELETE", level: levelBucket, query: "ownershipControls", op: "DeleteBucketOwnershipControls", h: g.deleteOwnershipControls},
		{method: "PUT", level: levelBucket, query: "lifecycle", op: "PutBucketLifecycleConfiguration", h: g.putBucketLifecycle},
		{method: "GET", level: levelBucket, query: "lifecycle", op: "GetBucketLifecycleConfiguration", h: g.getBucketLifecycle},
		{method: "DELETE", level: levelBucket, query: "lifecycle", op: "DeleteBucketLifecycle", h: g.deleteBucketLifecycle},
		{method: "PUT", level: levelBucket, query: "versioning", op: "PutBucketVersioning", h: g.putBucketVersioning},
		{method: "PUT", level: levelBucket, query: "object-lock", op: "PutObjectLockConfiguration", h: g.putObjectLockConfiguration},
		{method: "GET", level: levelBucket, query: "object-lock", op: "GetObjectLockConfiguration", h: g.getObjectLockConfiguration},
		{method: "GET", level: levelBucket, query: "versions", op: "ListObjectVersions", h: g.listObjectVersions},
		{method: "PUT", level: levelBucket, op: "CreateBucket", h: g.createBucket},
		{method: "GET", level: levelBucket, query: "cors", op: "GetBucketCors", h: g.getBucketCors},
		{method: "GET", level: levelBucket, query: "location", op: "GetBucketLocation", h: g.getBucketLocation, read: true},
		{method: "GET", level: levelBucket, query: "uploads", op: "ListMultipartUploads", h: g.listMultipartUploads},
		{method: "GET", level: levelBucket, query: "versioning", op: "GetBucketVersioning", h: g.getBucketVersioning},
		{method: "GET", level: levelBucket, query: "acl", op: "GetBucketAcl", h: g.getBucketACL},
		{method: "GET", level: levelBucket, query: "list-type", op: "ListObjectsV2", h: g.listObjectsV2, read: true},
		{method: "GET", level: levelBucket, op: "ListObjects", h: g.listObjectsV1, read: true},
		{method: "HEAD", level: levelBucket, op: "HeadBucket", h: g.headBucket, read: true},
		{method: "DELETE", level: levelBucket, query: "cors", op: "DeleteBucketCors", h: g.deleteBucketCors},
		{method: "DELETE", level: levelBucket, op: "DeleteBucket", h: g.deleteBucket},
		{method: "POST", level: levelBucket, query: "delete", op: "DeleteObjects", h: g.deleteObjects},
		{method: "POST", level: levelBucket, op: "PostObject", h: g.postObject, formAuth: true},

		{method: "PUT", level: levelObject, query: "retention", op: "PutObjectRetention", h: g.putObjectRetention},
		{method: "GET", level: levelObject, query: "retention", op: "GetObjectRetention", h: g.getObjectRetention},
		{method: "PUT", level: levelObject, query: "legal-hold", op: "PutObjectLegalHold", h: g.putObjectLegalHold},
		{method: "GET", level: levelObject, query: "legal-hold", op: "GetObjectLegalHold", h: g.getObjectLegalHold},
		{method: "PUT", level: levelObject, query: "tagging", op: "PutObjectTagging", h: g.putObjectTagging},
		{method: "GET", level: levelObject, query: "tagging", op: "GetObjectTagging", h: g.getObjectTagging},
		{method: "DELETE", level: levelObject, query: "tagging", op: "DeleteObjectTagging", h: g.deleteObjectTagging},
		{method: "PUT", level: levelObject, query: "uploadId", header: "X-Amz-Copy-Source", op: "UploadPartCopy", h: g.uploadPartCopy},
		{method: "PUT", level: levelObject, query: "uploadId", op: "UploadPart", h: g.uploadPart},
		{method: "PUT", level: levelObject, query: "acl", op: "PutObjectAcl", h: g.putObjectACL},
		{method: "PUT", level: levelObject, header: "X-Amz-Copy-Source", op: "CopyObject", h: g.copyObject},
		{method: "PUT", level: levelObject, op: "PutObject", h: g.putObject},
		{method: "GET", level: levelObject, query: "uploadId", op: "ListParts", h: g.listParts},
		{method: "GET", level: levelObject, query: "acl", op: "GetObjectAcl", h: g.getObjectACL},
		{method: "GET", level: levelObject, query: "attributes", op: "GetObjectAttributes", h: g.getObjectAttributes, read: true},
		{method: "GET", level: levelObject, op: "GetObject", h: g.getObject, read: true},
		{method: "HEAD", level: levelObject, op: "HeadObject", h: g.headObject, read: true},
		{method: "DELETE", level: levelObject, query: "uploadId", op: "AbortMultipartUpload", h: g.abortMultipartUpload},
		{method: "DELETE", level: levelObject, op: "DeleteObject", h: g.deleteObject},
		{method: "POST", level: levelObject, query: "uploads", op: "CreateMultipartUpload", h: g.createMultipartUpload},
		{method: "POST", level: levelObject, query: "uploadId", op: "CompleteMultipartUpload", h: g.completeMultipartUpload},
	}
}

func notImplemented(r *request) error {
	return errMsg(s3err.NotImplemented, "%s is not implemented by this gateway.", r.op)
}

// match finds the route of a request.
func (r *request) match(routes []route) (*route, error) {
	lv := levelService
	switch {
	case r.hasKey:
		lv = levelObject
	case r.bucketName != "":
		lv = levelBucket
	}
	unsupported := unsupportedBucket
	if lv == levelObject {
		unsupported = unsupportedObject
	}
	if lv != levelService {
		for _, s := range unsupported {
			if r.query.Has(s) {
				return &route{op: "Unsupported:" + s, h: func(r *request) error {
					return errMsg(s3err.NotImplemented, "The ?%s sub-resource is not implemented by this gateway.", s)
				}}, nil
			}
		}
	}
	methodSeen := false
	for i := range routes {
		rt := &routes[i]
		if rt.level != lv {
			continue
		}
		if rt.method != r.method {
			continue
		}
		methodSeen = true
		if rt.query != "" && !r.query.Has(rt.query) {
			continue
		}
		if rt.header != "" && r.header.Get(rt.header) == "" {
			continue
		}
		return rt, nil
	}
	if methodSeen {
		return nil, errCode(s3err.NotImplemented)
	}
	return nil, errCode(s3err.MethodNotAllowed)
}

// dispatch routes, authenticates and authorises a request, then runs it.
func (r *request) dispatch() error {
	if r.method == "OPTIONS" {
		r.op = "Preflight"
		return r.g.preflight(r)
	}
	rt, err := r.match(r.g.router)
	if err != nil {
		r.op = "Unknown"
		return err
	}
	r.op = rt.op
	if err := r.authenticate(); err != nil {
		return err
	}
	if !rt.formAuth { // else authorised by the handler once the form is read
		if err := r.authorize(rt); err != nil {
			return err
		}
	}
	if h := testHandlerHook.Load(); h != nil {
		(*h)(rt.op)
	}
	return rt.h(r)
}

// authorize applies the access rules: the root key may do anything; a user
// acts on buckets it owns; anyone else as the bucket's policy and ACLs say
// (authorizeAs). Every bucket-level and object-level operation needs the
// bucket.
func (r *request) authorize(rt *route) error {
	if rt.level == levelService || rt.op == "CreateBucket" {
		if r.user == "" {
			return errCode(s3err.AccessDenied)
		}
		return nil
	}
	if r.bucketName == "" || !validBucketName(r.bucketName) {
		if r.user == "" {
			return errCode(s3err.AccessDenied)
		}
		return errCode(s3err.NoSuchBucket)
	}
	var b *Bucket
	var err error
	if rt.op == "GetObject" || rt.op == "HeadObject" || rt.op == "GetObjectAcl" || rt.op == "PutObjectAcl" {
		b, r.obj, err = r.g.idx.BucketObject(r.ctx, r.bucketName, r.key)
		r.objLoaded = err == nil
	} else {
		b, err = r.g.idx.Bucket(r.ctx, r.bucketName)
	}
	if errors.Is(err, errNotFound) {
		return errCode(s3err.NoSuchBucket)
	}
	if err != nil {
		return errInternal(err)
	}
	r.bucket = b
	if rt.op == "DeleteObjects" { // per key (deleteObjects)
		return nil
	}
	action, ok := opActions[rt.op]
	if !ok {
		if r.root || (r.user != "" && r.user == b.Owner) {
			return nil
		}
		return errCode(s3err.AccessDenied)
	}
	key := ""
	if rt.level == levelObject {
		key = r.key
	}
	if err := r.g.authorizeAs(r, r.user, action, b, key, r.obj); err != nil {
		return err
	}
	return r.missingKeyAccess(rt.op)
}

// validBucketName applies S3's naming rules (3-63 characters of lower-case
// letters, digits, dots and hyphens, starting and ending with a letter or
// digit, not an IP address).
func validBucketName(s string) bool {
	if len(s) < 3 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' || c == '.':
			if i == 0 || i == len(s)-1 {
				return false
			}
			if c == '.' && (s[i-1] == '.' || s[i-1] == '-' || s[i+1] == '-') {
				return false
			}
		default:
			return false
		}
	}
	dots := 0
	digitsOnly := true
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			dots++
		} else if s[i] < '0' || s[i] > '9' {
			digitsOnly = false
		}
	}
	return !(dots == 3 && digitsOnly)
}
