package gateway

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/s3err"
)

// Canonical IDs: a user's canonical ID is its access key (the root key's
// too); groups are AWS's URIs.
const (
	groupAllUsers      = "http://acs.amazonaws.com/groups/global/AllUsers"
	groupAuthenticated = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
	groupLogDelivery   = "http://acs.amazonaws.com/groups/s3/LogDelivery"
	xsiNS              = "http://www.w3.org/2001/XMLSchema-instance"
)

// Object ownership settings. A bucket without any is BucketOwnerEnforced,
// as S3 creates buckets since April 2023: ACLs are off, policies decide.
const (
	ownerEnforced  = "BucketOwnerEnforced"
	ownerPreferred = "BucketOwnerPreferred"
	objectWriter   = "ObjectWriter"
	ownershipNone  = "-" // deleted: ObjectWriter semantics, nothing to get
)

var permissions = map[string]bool{"READ": true, "WRITE": true, "READ_ACP": true, "WRITE_ACP": true, "FULL_CONTROL": true}

// cannedACL returns the ACL a canned ACL name stands for, of a resource
// owned by owner in a bucket owned by bucketOwner.
func cannedACL(name, owner, bucketOwner string) (*index.ACL, error) {
	acl := &index.ACL{Owner: owner, Grants: []index.Grant{{ID: owner, Permission: "FULL_CONTROL"}}}
	add := func(g index.Grant) { acl.Grants = append(acl.Grants, g) }
	switch name {
	case "private":
	case "public-read":
		add(index.Grant{Group: true, ID: groupAllUsers, Permission: "READ"})
	case "public-read-write":
		add(index.Grant{Group: true, ID: groupAllUsers, Permission: "READ"})
		add(index.Grant{Group: true, ID: groupAllUsers, Permission: "WRITE"})
	case "authenticated-read":
		add(index.Grant{Group: true, ID: groupAuthenticated, Permission: "READ"})
	case "bucket-owner-read":
		if bucketOwner != owner {
			add(index.Grant{ID: bucketOwner, Permission: "READ"})
		}
	case "bucket-owner-full-control":
		if bucketOwner != owner {
			add(index.Grant{ID: bucketOwner, Permission: "FULL_CONTROL"})
		}
	case "log-delivery-write":
		add(index.Grant{Group: true, ID: groupLogDelivery, Permission: "WRITE"})
		add(index.Grant{Group: true, ID: groupLogDelivery, Permission: "READ_ACP"})
	default:
		return nil, errMsg(s3err.InvalidArgument, "Invalid canned ACL: %s", name)
	}
	return acl, nil
}

var grantHeaders = []struct{ header, perm string }{
	{"X-Amz-Grant-Read", "READ"}, {"X-Amz-Grant-Write", "WRITE"}, {"X-Amz-Grant-Read-Acp", "READ_ACP"},
	{"X-Amz-Grant-Write-Acp", "WRITE_ACP"}, {"X-Amz-Grant-Full-Control", "FULL_CONTROL"},
}

// headerACL reads x-amz-acl or the x-amz-grant-* headers; given is false
// when the request has neither.
func headerACL(h http.Header, owner, bucketOwner string) (acl *index.ACL, canned string, given bool, err error) {
	canned = h.Get("X-Amz-Acl")
	var grants []index.Grant
	for _, gh := range grantHeaders {
		v := h.Get(gh.header)
		if v == "" {
			continue
		}
		gs, err := parseGrantHeader(v, gh.perm)
		if err != nil {
			return nil, "", false, err
		}
		grants = append(grants, gs...)
	}
	switch {
	case canned != "" && len(grants) > 0:
		return nil, "", false, errMsg(s3err.InvalidRequest, "Specifying both Canned ACLs and Header Grants is not allowed")
	case canned != "":
		acl, err = cannedACL(canned, owner, bucketOwner)
		return acl, canned, err == nil, err
	case len(grants) > 0:
		return &index.ACL{Owner: owner, Grants: grants}, "", true, nil
	}
	return nil, "", false, nil
}

// parseGrantHeader reads `id="KEY", uri="http://acs.amazonaws.com/groups/global/AllUsers"`.
func parseGrantHeader(v, perm string) ([]index.Grant, error) {
	var out []index.Grant
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if !ok || val == "" {
			return nil, errMsg(s3err.InvalidArgument, "Invalid grant header value: %s", part)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "id":
			out = append(out, index.Grant{ID: val, Permission: perm})
		case "uri":
			if !knownGroup(val) {
				return nil, errMsg(s3err.InvalidArgument, "Invalid group uri: %s", val)
			}
			out = append(out, index.Grant{Group: true, ID: val, Permission: perm})
		case "emailaddress":
			return nil, errCode(s3err.UnresolvableGrantByEmailAddress)
		default:
			return nil, errMsg(s3err.InvalidArgument, "Invalid grant header value: %s", part)
		}
	}
	return out, nil
}

func knownGroup(uri string) bool {
	return uri == groupAllUsers || uri == groupAuthenticated || uri == groupLogDelivery
}

// aclDoc is an AccessControlPolicy document, read and written.
type aclDoc struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Owner   *owner   `xml:"Owner"`
	Grants  []struct {
		Grantee *aclGrantee `xml:"Grantee"`
		// Permission is a pointer so that a missing one is told from "".
		Permission *string `xml:"Permission"`
	} `xml:"AccessControlList>Grant"`
}

type aclGrantee struct {
	Type         string `xml:"type,attr"`
	ID           string `xml:"ID"`
	URI          string `xml:"URI"`
	EmailAddress string `xml:"EmailAddress"`
}

// maxGrants is S3's limit on the grants of one ACL.
const maxGrants = 100

// parseACL reads an AccessControlPolicy body: the ACL and the owner ID it
// names.
func parseACL(body []byte) (*index.ACL, error) {
	var d aclDoc
	if err := xml.Unmarshal(body, &d); err != nil {
		return nil, errCode(s3err.MalformedACLError)
	}
	if d.Owner == nil || d.Owner.ID == "" {
		return nil, errCode(s3err.MalformedACLError)
	}
	if len(d.Grants) > maxGrants {
		return nil, errMsg(s3err.MalformedACLError, "An ACL may have at most %d grants.", maxGrants)
	}
	acl := &index.ACL{Owner: d.Owner.ID}
	for _, g := range d.Grants {
		if g.Grantee == nil || g.Permission == nil || !permissions[*g.Permission] {
			return nil, errCode(s3err.MalformedACLError)
		}
		gr := index.Grant{Permission: *g.Permission}
		switch g.Grantee.Type {
		case "CanonicalUser":
			if g.Grantee.ID == "" {
				return nil, errCode(s3err.MalformedACLError)
			}
			gr.ID = g.Grantee.ID
		case "Group":
			if !knownGroup(g.Grantee.URI) {
				return nil, errMsg(s3err.InvalidArgument, "Invalid group uri: %s", g.Grantee.URI)
			}
			gr.Group, gr.ID = true, g.Grantee.URI
		case "AmazonCustomerByEmail":
			return nil, errCode(s3err.UnresolvableGrantByEmailAddress)
		default:
			return nil, errCode(s3err.MalformedACLError)
		}
		acl.Grants = append(acl.Grants, gr)
	}
	return acl, nil
}

// checkGrantees refuses grants to users that do not exist.
func (g *Gateway) checkGrantees(ctx context.Context, acl *index.ACL) error {
	for _, gr := range acl.Grants {
		if gr.Group || gr.ID == g.cfg.AccessKey {
			continue
		}
		_, ok, err := g.idx.Secret(ctx, gr.ID)
		if err != nil {
			return errInternal(err)
		}
		if !ok {
			return errMsg(s3err.InvalidArgument, "Invalid id: %s", gr.ID)
		}
	}
	return nil
}

// ownerOnly tells whether an ACL gives nothing but full control to the
// bucket's owner (and the resource's): what a bucket with ACLs disabled
// accepts.
func ownerOnly(acl *index.ACL, bucketOwner string) bool {
	for _, gr := range acl.Grants {
		if gr.Group || gr.Permission != "FULL_CONTROL" || (gr.ID != bucketOwner && gr.ID != acl.Owner) {
			return false
		}
	}
	return true
}

// newObjectACL is the ACL a new object written by writer gets from the
// request's x-amz-acl or x-amz-grant-* headers, under the bucket's object
// ownership: nil (the bucket owner owns it, no ACL) when ACLs are off, and
// AccessControlListNotSupported for an ACL that would grant more then.
func (g *Gateway) newObjectACL(r *request, b *Bucket, writer string, h http.Header) (*index.ACL, error) {
	acl, canned, given, err := headerACL(h, writer, b.Owner)
	if err != nil {
		return nil, err
	}
	return g.objectACLFor(r, b, writer, acl, canned, given)
}

// applyCannedACL sets the ACL of a new object written by writer from a
// canned ACL name ("" none), as PutObject's x-amz-acl would: for POST
// uploads, whose acl is a form field.
func (g *Gateway) applyCannedACL(r *request, b *Bucket, writer, canned string, hdr *index.Headers) error {
	var acl *index.ACL
	var err error
	if canned != "" {
		if acl, err = cannedACL(canned, writer, b.Owner); err != nil {
			return err
		}
	}
	hdr.ACL, err = g.objectACLFor(r, b, writer, acl, canned, canned != "")
	return err
}

func (g *Gateway) objectACLFor(r *request, b *Bucket, writer string, acl *index.ACL, canned string, given bool) (*index.ACL, error) {
	a, err := g.access(r, b)
	if err != nil {
		return nil, errInternal(err)
	}
	if writer == "" {
		writer = b.Owner // an anonymous write (public-read-write): the bucket owner owns it
	}
	if !a.aclsOn() {
		if given && canned != "bucket-owner-full-control" && !ownerOnly(acl, b.Owner) {
			return nil, errCode(s3err.AccessControlListNotSupported)
		}
		return nil, nil
	}
	if given {
		if err := g.checkGrantees(r.ctx, acl); err != nil {
			return nil, err
		}
	}
	owner := writer
	if a.raw.Ownership == ownerPreferred && canned == "bucket-owner-full-control" {
		owner = b.Owner
	}
	if !given {
		acl, _ = cannedACL("private", owner, b.Owner)
	}
	acl.Owner = owner
	return acl, nil
}

// ---- Get/PutBucketAcl, Get/PutObjectAcl

type aclOut struct {
	XMLName xml.Name   `xml:"AccessControlPolicy"`
	Xmlns   string     `xml:"xmlns,attr"`
	Owner   owner      `xml:"Owner"`
	Grants  []grantOut `xml:"AccessControlList>Grant"`
}

type grantOut struct {
	Grantee    granteeOut
	Permission string
}

type granteeOut struct {
	XMLNS       string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string `xml:",omitempty"`
	DisplayName string `xml:",omitempty"`
	URI         string `xml:",omitempty"`
}

func (r *request) sendACL(acl *index.ACL) error {
	out := aclOut{Xmlns: xmlns, Owner: owner{ID: acl.Owner, DisplayName: acl.Owner}}
	for _, gr := range acl.Grants {
		ge := granteeOut{XMLNS: xsiNS, Type: "CanonicalUser", ID: gr.ID, DisplayName: gr.ID}
		if gr.Group {
			ge = granteeOut{XMLNS: xsiNS, Type: "Group", URI: gr.ID}
		}
		out.Grants = append(out.Grants, grantOut{Grantee: ge, Permission: gr.Permission})
	}
	return r.sendXML(http.StatusOK, out)
}

func privateACL(owner string) *index.ACL {
	acl, _ := cannedACL("private", owner, owner)
	return acl
}

func (g *Gateway) getBucketACL(r *request) error {
	a, err := g.access(r, r.bucket)
	if err != nil {
		return errInternal(err)
	}
	acl := a.raw.ACL
	if acl == nil || !a.aclsOn() {
		acl = privateACL(r.bucket.Owner)
	}
	return r.sendACL(acl)
}

func (g *Gateway) getObjectACL(r *request) error {
	o, err := g.loadVersion(r) // the current object, or ?versionId's (versioning.go)
	if err != nil {
		return err
	}
	if r.bucket.Versioning != index.Unversioned {
		r.c.Set("x-amz-version-id", o.VersionID)
	}
	a, err := g.access(r, r.bucket)
	if err != nil {
		return errInternal(err)
	}
	acl := o.Headers.ACL
	if acl == nil || !a.aclsOn() {
		acl = privateACL(r.bucket.Owner)
	}
	return r.sendACL(acl)
}

// requestedACL is the ACL of a PutBucketAcl or PutObjectAcl: from the
// headers or from an AccessControlPolicy body (not both).
func (g *Gateway) requestedACL(r *request, owner string) (*index.ACL, string, error) {
	acl, canned, given, err := headerACL(r.header, owner, r.bucket.Owner)
	if err != nil {
		return nil, "", err
	}
	body, err := r.readXML(64 << 10)
	if err != nil {
		return nil, "", err
	}
	hasBody := len(strings.TrimSpace(string(body))) > 0
	switch {
	case given && hasBody:
		return nil, "", errMsg(s3err.InvalidRequest, "Specify an ACL in the headers or in the body, not both.")
	case hasBody:
		if acl, err = parseACL(body); err != nil {
			return nil, "", err
		}
		if acl.Owner != owner {
			return nil, "", errMsg(s3err.AccessDenied, "The ACL's owner is not the owner of the resource.")
		}
	case !given:
		return nil, "", errMsg(s3err.MissingSecurityHeader, "Your request was missing a required header")
	}
	if err := g.checkGrantees(r.ctx, acl); err != nil {
		return nil, "", err
	}
	return acl, canned, nil
}

func (g *Gateway) putBucketACL(r *request) error {
	a, err := g.access(r, r.bucket)
	if err != nil {
		return errInternal(err)
	}
	acl, canned, err := g.requestedACL(r, r.bucket.Owner)
	if err != nil {
		return err
	}
	if !a.aclsOn() {
		if canned == "bucket-owner-full-control" || ownerOnly(acl, r.bucket.Owner) {
			return r.c.Status(http.StatusOK).Send(nil) // what the bucket has already
		}
		return errCode(s3err.AccessControlListNotSupported)
	}
	if err := g.idx.SetBucketACL(r.ctx, r.bucket.AppID, acl); err != nil {
		return errInternal(err)
	}
	g.forgetAccess(r.bucket.AppID)
	return r.c.Status(http.StatusOK).Send(nil)
}

func (g *Gateway) putObjectACL(r *request) error {
	if r.obj == nil {
		return errCode(s3err.NoSuchKey)
	}
	a, err := g.access(r, r.bucket)
	if err != nil {
		return errInternal(err)
	}
	owner := r.bucket.Owner
	if r.obj.Headers.ACL != nil && a.aclsOn() {
		owner = r.obj.Headers.ACL.Owner
	}
	acl, canned, err := g.requestedACL(r, owner)
	if err != nil {
		return err
	}
	if !a.aclsOn() {
		if canned == "bucket-owner-full-control" || ownerOnly(acl, r.bucket.Owner) {
			return r.c.Status(http.StatusOK).Send(nil)
		}
		return errCode(s3err.AccessControlListNotSupported)
	}
	if err := g.idx.SetObjectACL(r.ctx, r.bucketName, r.key, acl); err != nil {
		return toS3Error(err)
	}
	return r.c.Status(http.StatusOK).Send(nil)
}

// ---- ownership controls

type ownershipControls struct {
	XMLName xml.Name `xml:"OwnershipControls"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Rules   []struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	} `xml:"Rule"`
}

func validOwnership(v string) bool {
	return v == ownerEnforced || v == ownerPreferred || v == objectWriter
}

func (g *Gateway) putOwnershipControls(r *request) error {
	body, err := r.readXML(64 << 10)
	if err != nil {
		return err
	}
	var oc ownershipControls
	if err := xml.Unmarshal(body, &oc); err != nil || len(oc.Rules) != 1 || !validOwnership(oc.Rules[0].ObjectOwnership) {
		return errCode(s3err.MalformedXML)
	}
	v := oc.Rules[0].ObjectOwnership
	if v == ownerEnforced {
		a, err := g.access(r, r.bucket)
		if err != nil {
			return errInternal(err)
		}
		if a.raw.ACL != nil && !ownerOnly(a.raw.ACL, r.bucket.Owner) {
			return errCode(s3err.InvalidBucketAclWithObjectOwnership)
		}
	}
	if err := g.idx.SetOwnership(r.ctx, r.bucket.AppID, v); err != nil {
		return errInternal(err)
	}
	g.forgetAccess(r.bucket.AppID)
	return r.c.Status(http.StatusOK).Send(nil)
}

func (g *Gateway) getOwnershipControls(r *request) error {
	a, err := g.access(r, r.bucket)
	if err != nil {
		return errInternal(err)
	}
	v := a.raw.Ownership
	switch v {
	case ownershipNone:
		return errCode(s3err.OwnershipControlsNotFoundError)
	case "":
		v = ownerEnforced
	}
	oc := ownershipControls{Xmlns: xmlns}
	oc.Rules = append(oc.Rules, struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	}{v})
	return r.sendXML(http.StatusOK, oc)
}

func (g *Gateway) deleteOwnershipControls(r *request) error {
	if err := g.idx.SetOwnership(r.ctx, r.bucket.AppID, ownershipNone); err != nil {
		return errInternal(err)
	}
	g.forgetAccess(r.bucket.AppID)
	return r.c.Status(http.StatusNoContent).Send(nil)
}

// createBucketAccess checks the ACL and object ownership a CreateBucket
// asks for, before the bucket is made; apply stores them after.
func (g *Gateway) createBucketAccess(r *request) (apply func(appid string) error, err error) {
	ownership := r.header.Get("X-Amz-Object-Ownership")
	if ownership != "" && !validOwnership(ownership) {
		return nil, errMsg(s3err.InvalidArgument, "Invalid x-amz-object-ownership header: %s", ownership)
	}
	acl, canned, given, err := headerACL(r.header, r.user, r.user)
	if err != nil {
		return nil, err
	}
	if given {
		if err := g.checkGrantees(r.ctx, acl); err != nil {
			return nil, err
		}
		if (ownership == "" || ownership == ownerEnforced) && canned != "bucket-owner-full-control" && !ownerOnly(acl, r.user) {
			return nil, errCode(s3err.InvalidBucketAclWithObjectOwnership)
		}
	}
	return func(appid string) error {
		if ownership != "" && ownership != ownerEnforced {
			if err := g.idx.SetOwnership(r.ctx, appid, ownership); err != nil {
				return err
			}
			if given && !ownerOnly(acl, r.user) {
				return g.idx.SetBucketACL(r.ctx, appid, acl)
			}
		}
		return nil
	}, nil
}
