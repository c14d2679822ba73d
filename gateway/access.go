package gateway

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/gateway/policy"
	"github.com/tnv-s3/tnv/s3err"
	"github.com/tnv-s3/tnv/sigv4"
)

// accessTTL is how long a gateway trusts the policy, ACL and ownership of
// a bucket it has read. Changes made through this gateway take effect at
// once (it drops its copy); other gateways sharing the database see them
// within accessTTL. AWS documents bucket policy changes as eventually
// consistent too.
const accessTTL = 2 * time.Second

// bucketAccess is a bucket's access settings, parsed.
type bucketAccess struct {
	raw    index.Access
	policy *policy.Policy // nil: none
	bad    bool           // the stored policy no longer parses: deny all but the owner
	loaded time.Time
}

// aclsOn tells whether the bucket's ACLs count (ownership other than
// BucketOwnerEnforced).
func (a *bucketAccess) aclsOn() bool {
	return a.raw.Ownership != "" && a.raw.Ownership != ownerEnforced
}

// accessCache holds buckets' access settings by app ID.
type accessCache struct {
	mu sync.Mutex
	m  map[string]*bucketAccess
}

// access returns bucket b's access settings, from the cache when fresh.
func (g *Gateway) access(r *request, b *Bucket) (*bucketAccess, error) {
	now := g.cfg.Now()
	c := &g.accessCache
	c.mu.Lock()
	a := c.m[b.AppID]
	c.mu.Unlock()
	if a != nil && now.Sub(a.loaded) < accessTTL && now.Sub(a.loaded) >= 0 {
		return a, nil
	}
	raw, err := g.idx.BucketAccess(r.ctx, b.AppID)
	if err != nil {
		return nil, err
	}
	a = &bucketAccess{raw: raw, loaded: now}
	if raw.Policy != "" {
		if a.policy, err = policy.Parse([]byte(raw.Policy), b.Name); err != nil {
			g.log.Error("gateway: stored bucket policy does not parse; only the owner may use the bucket", "bucket", b.Name, "err", err)
			a.bad = true
		}
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]*bucketAccess{}
	}
	c.m[b.AppID] = a
	c.mu.Unlock()
	return a, nil
}

// forgetAccess drops a bucket's settings after this gateway changed them.
func (g *Gateway) forgetAccess(appid string) {
	g.accessCache.mu.Lock()
	delete(g.accessCache.m, appid)
	g.accessCache.mu.Unlock()
}

// ownerManages are the actions a bucket's owner may always do, whatever
// its policy says, so that a policy cannot lock its owner out (AWS keeps
// them for the account's root user).
var ownerManages = map[string]bool{"s3:GetBucketPolicy": true, "s3:PutBucketPolicy": true, "s3:DeleteBucketPolicy": true}

// authorizeAs decides whether user ("" anonymous) may do action on bucket
// b, or on its object key when key != "" (obj: that object when loaded,
// for its ACL). The request gives the context (source address, Referer,
// TLS, list parameters, headers). The root key may do anything; then, in
// AWS's order: an explicit Deny of the bucket policy wins; then the
// bucket's owner may; then an Allow of the policy; then the ACLs (unless
// BucketOwnerEnforced); else AccessDenied.
//
// POST uploads call it with the form's signer and "s3:PutObject".
func (g *Gateway) authorizeAs(r *request, user, action string, b *Bucket, key string, obj *object) error {
	root := user != "" && user == g.cfg.AccessKey
	if root {
		return nil
	}
	owner := user != "" && user == b.Owner
	a, err := g.access(r, b)
	if err != nil {
		return errInternal(err)
	}
	if a.bad {
		if owner {
			return nil
		}
		return errCode(s3err.AccessDenied)
	}
	d := policy.NoDecision
	if a.policy != nil {
		res := b.Name
		if key != "" {
			res += "/" + key
		}
		d = a.policy.Evaluate(&policy.Request{Principal: policy.Principal{User: user}, Action: action, Resource: res,
			Context: r.policyContext(user, obj)})
	}
	switch {
	case d == policy.Deny && !(owner && ownerManages[action]):
		return errCode(s3err.AccessDenied)
	case owner, d == policy.Allow:
		return nil
	}
	if a.aclsOn() {
		perm, onObject := aclPermission(action)
		var acl *index.ACL
		switch {
		case perm == "":
		case onObject && obj != nil:
			acl = obj.Headers.ACL
		case !onObject:
			acl = a.raw.ACL
		}
		if acl != nil && aclGrants(acl, user, perm) {
			return nil
		}
	}
	return errCode(s3err.AccessDenied)
}

// missingKeyAccess: a GET or HEAD of a key that does not exist is 404
// only to whom may list the bucket, else 403, so that a policy opening
// reads does not tell which keys exist (as S3).
func (r *request) missingKeyAccess(op string) error {
	if (op != "GetObject" && op != "HeadObject") || !r.objLoaded || r.obj != nil || r.root || (r.user != "" && r.user == r.bucket.Owner) {
		return nil
	}
	if r.g.authorizeAs(r, r.user, "s3:ListBucket", r.bucket, "", nil) != nil {
		return errCode(s3err.AccessDenied)
	}
	return nil
}

// aclGrants tells whether acl gives user ("" anonymous) perm.
func aclGrants(acl *index.ACL, user, perm string) bool {
	if user != "" && user == acl.Owner && (perm == "READ_ACP" || perm == "WRITE_ACP") {
		return true // an owner may always read and change its ACL, as on S3
	}
	for _, gr := range acl.Grants {
		if gr.Permission != perm && gr.Permission != "FULL_CONTROL" {
			continue
		}
		switch {
		case gr.Group && gr.ID == groupAllUsers:
			return true
		case gr.Group && gr.ID == groupAuthenticated && user != "":
			return true
		case !gr.Group && user != "" && gr.ID == user:
			return true
		}
	}
	return false
}

// policyContext is the request's values of the condition keys.
func (r *request) policyContext(user string, obj *object) map[string][]string {
	ctx := policy.Principal{User: user}.Context()
	set := func(k, v string) { ctx[k] = []string{v} }
	set("aws:sourceip", r.g.clientAddr(r.c))
	if v := r.header.Get("Referer"); v != "" {
		set("aws:referer", v)
	}
	if v := r.header.Get("User-Agent"); v != "" {
		set("aws:useragent", v)
	}
	set("aws:securetransport", strconv.FormatBool(r.secure()))
	now := r.g.cfg.Now().UTC()
	set("aws:currenttime", now.Format(time.RFC3339))
	set("aws:epochtime", strconv.FormatInt(now.Unix(), 10))
	for _, q := range []string{"prefix", "delimiter", "max-keys"} {
		if r.query.Has(q) {
			set("s3:"+q, r.query.Get(q))
		}
	}
	for _, h := range []string{"x-amz-acl", "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp",
		"x-amz-grant-full-control", "x-amz-copy-source", "x-amz-metadata-directive", "x-amz-server-side-encryption",
		"x-amz-storage-class", "x-amz-content-sha256", "x-amz-object-ownership"} {
		if v := r.header.Get(h); v != "" {
			set("s3:"+h, v)
		}
	}
	if r.auth != nil && !r.auth.Anonymous {
		switch r.auth.Kind {
		case sigv4.AuthV4Header, sigv4.AuthV4Presigned:
			set("s3:signatureversion", "AWS4-HMAC-SHA256")
		default:
			set("s3:signatureversion", "AWS")
		}
		if r.auth.Kind == sigv4.AuthV4Presigned || r.auth.Kind == sigv4.AuthV2Presigned {
			set("s3:authtype", "REST-QUERY-STRING")
		} else {
			set("s3:authtype", "REST-HEADER")
		}
	}
	if t := r.header.Get("X-Amz-Tagging"); t != "" {
		if q, err := url.ParseQuery(t); err == nil {
			for k, v := range q {
				ctx["s3:requestobjecttagkeys"] = append(ctx["s3:requestobjecttagkeys"], k)
				ctx["s3:requestobjecttag/"+strings.ToLower(k)] = v
			}
		}
	}
	if obj != nil {
		for _, t := range obj.Headers.Tags {
			set("s3:existingobjecttag/"+strings.ToLower(t.Key), t.Value)
		}
	}
	return ctx
}

// secure tells whether the request came over TLS: to this gateway, or to
// a trusted proxy that says so in X-Forwarded-Proto.
func (r *request) secure() bool {
	if r.c.Context().IsTLS() {
		return true
	}
	peer, _ := netip.AddrFromSlice(r.c.Context().RemoteIP())
	if !r.g.trustedProxy(peer.Unmap()) {
		return false
	}
	return strings.EqualFold(strings.TrimSpace(r.header.Get("X-Forwarded-Proto")), "https")
}
