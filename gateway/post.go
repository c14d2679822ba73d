package gateway

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tnv-s3/tnv/s3err"
	"github.com/tnv-s3/tnv/sigv4"
)

// POST Object: an upload from an HTML form (multipart/form-data) to the
// bucket's URL, authorised by a policy document the form carries and a
// signature over it (postpolicy.go, sigv4/post.go). The file streams into
// blobs as a PutObject body does; the form around it is small and read
// whole (postform.go).

// postTail is how much of the body may follow the file's content (its
// closing boundary, and fields after the file, which S3 ignores), plus
// multipartBuf: the file streams into blobs whose sizes must be declared
// before their bytes, so all but this much of what the Content-Length
// leaves for the file is stored as it arrives, and the rest, read to the
// file's end, after it.
const postTail = 64 << 10

// multipartBuf is how much mime/multipart reads ahead of what it returns
// (its peekBufferSize).
const multipartBuf = 4096

// postSmall is the largest file read whole before it is stored (one blob).
const postSmall = 1 << 20

// postFormFields are the fields stored as the object's headers.
var postFormFields = []string{"Content-Type", "Content-Disposition", "Content-Encoding", "Content-Language", "Cache-Control", "Expires"}

func argument(name, value string) []sigv4.Field {
	return []sigv4.Field{{Name: "ArgumentName", Value: name}, {Name: "ArgumentValue", Value: value}}
}

func extra(kv ...string) []sigv4.Field {
	var f []sigv4.Field
	for i := 0; i+1 < len(kv); i += 2 {
		f = append(f, sigv4.Field{Name: kv[i], Value: kv[i+1]})
	}
	return f
}

func (g *Gateway) postObject(r *request) error {
	err := g.postForm(r)
	if err != nil {
		r.drainRefusedForm()
	}
	return err
}

// drainRefusedForm reads (at most drainOnFailure of) what the client is
// still sending of a refused form: a browser that is still uploading when
// the connection closes shows a network error instead of the refusal.
func (r *request) drainRefusedForm() {
	if stream := r.c.Context().RequestBodyStream(); stream != nil {
		io.CopyN(io.Discard, stream, drainOnFailure)
	}
}

func (g *Gateway) postForm(r *request) error {
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(mt, "multipart/form-data") {
		e := errCode(s3err.PreconditionFailed)
		e.Extra = extra("Condition", "Bucket POST must be of the enclosure-type multipart/form-data")
		return e
	}
	boundary := params["boundary"]
	if boundary == "" {
		return errCode(s3err.MalformedPOSTRequest)
	}
	cl, err := strconv.ParseInt(r.header.Get("Content-Length"), 10, 64)
	if err != nil || cl < 0 {
		return errCode(s3err.MissingContentLength)
	}
	body, err := r.body()
	if err != nil {
		return err
	}
	lim := &preDataLimit{r: body, limit: maxPostPreData + preDataSlack}
	form, err := readPostForm(multipart.NewReader(lim, boundary))
	if err != nil {
		return err
	}
	lim.limit = 0
	if err := g.postAuthorize(r, form); err != nil {
		return err
	}
	minSize, maxSize := int64(0), int64(MaxPutSize)
	if !r.auth.Anonymous {
		policy, _ := form.get("policy")
		p, err := parsePostPolicy(policy)
		if err != nil {
			return err
		}
		if minSize, maxSize, err = p.check(form, r.bucketName, g.cfg.Now()); err != nil {
			return err
		}
	}
	o, acl, md5want, err := postObjectOf(r, form)
	if err != nil {
		return err
	}
	if err := g.applyCannedACL(r, r.bucket, r.user, acl, &o.Headers); err != nil {
		return err
	}
	enc, err := g.newWriteSSEFrom(r, postSSEFields(form))
	if err != nil {
		return err
	}
	o.Headers.SSE = enc.record()
	// The file is at most what the Content-Length leaves after what the
	// multipart reader has read (of which it may hold up to multipartBuf
	// unread) and before the closing delimiter.
	delim := int64(len("\r\n--") + len(boundary))
	upper := cl - lim.n + multipartBuf - delim
	blobs, intents, sum, size, err := g.storePostFile(r, g.sealedStore(enc.key(), nil), form.file, upper, minSize, maxSize)
	if err != nil {
		return err
	}
	if md5want != nil && !bytes.Equal(md5want, sum) {
		g.expediteIntents(g.ctx, intents)
		return errCode(s3err.BadDigest)
	}
	o.Size, o.ETag, o.Blobs = size, enc.etag(hex.EncodeToString(sum)), blobs
	o.MTime = time.Now().UTC().Truncate(time.Millisecond)
	if err := g.publish(r, o, putCond{}, intents); err != nil {
		return err
	}
	r.setSSEHeaders(o.Headers.SSE, enc.customer())
	return r.postAnswer(form, o)
}

// postAuthorize takes the key and the signer from the form and decides,
// as for a signed PutObject of that key, whether the signer may write it.
func (g *Gateway) postAuthorize(r *request, form *postForm) error {
	key, ok := form.get("key")
	if !ok {
		e := errMsg(s3err.InvalidArgument, "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
		e.Extra = argument("key", "")
		return e
	}
	// Every field may name ${filename}: S3 expands them before the policy
	// is checked. Without a filename parameter the variable stays as it is.
	if form.hasFilename {
		for k, vs := range form.fields {
			for i, v := range vs {
				form.fields[k][i] = strings.ReplaceAll(v, "${filename}", form.filename)
			}
		}
		key, _ = form.get("key")
	}
	if key == "" {
		e := errMsg(s3err.InvalidArgument, "User key must have a length greater than 0.")
		e.Extra = argument("key", "")
		return e
	}
	if b, ok := form.get("bucket"); ok && b != r.bucketName {
		return errPolicyDenied("Policy Condition failed: %s", condText("eq", "$bucket", b))
	}
	res, err := g.verifier.VerifyPost(form.get)
	if err != nil {
		return err
	}
	r.auth, r.user, r.root = res, "", false
	if !res.Anonymous {
		r.user, r.root = res.AccessKey, res.AccessKey == g.cfg.AccessKey
	}
	r.key, r.hasKey = key, true
	if len(r.key) > 1024 {
		return errCode(s3err.KeyTooLongError)
	}
	if err := r.checkKeyUTF8(); err != nil {
		return err
	}
	return r.authorize(g.routeOf("PutObject"))
}

// routeOf is the route of an operation (the one a POST is authorised as).
func (g *Gateway) routeOf(op string) *route {
	for i := range g.router {
		if g.router[i].op == op {
			return &g.router[i]
		}
	}
	panic("gateway: no route " + op)
}

// postObjectOf builds the object a form stores (without its bytes): the
// headers and metadata its fields set, its tags; and the canned ACL and
// Content-MD5 it asks for.
func postObjectOf(r *request, form *postForm) (*object, string, []byte, error) {
	h := http.Header{}
	for _, name := range postFormFields {
		if v, ok := form.get(name); ok {
			h.Set(name, v)
		}
	}
	for lname := range form.fields {
		if strings.HasPrefix(lname, "x-amz-meta-") || strings.HasPrefix(lname, "x-amz-server-side-encryption") ||
			strings.HasPrefix(lname, "x-amz-object-lock-") {
			v, _ := form.value(lname)
			h.Set(lname, v)
		}
	}
	// x-amz-storage-class and x-amz-website-redirect-location are ignored,
	// as on PUT; checksums of a form's file are not verified yet, so they
	// are refused rather than dropped.
	for lname := range form.fields {
		if strings.HasPrefix(lname, "x-amz-checksum-") {
			return nil, "", nil, errMsg(s3err.NotImplemented, "The form field %s is not implemented by this gateway.", lname)
		}
	}
	hdr, err := requestHeaders(h)
	if err != nil {
		return nil, "", nil, err
	}
	if t, ok := form.get("tagging"); ok {
		if hdr.Tags, err = parseTagging([]byte(t), maxObjectTags); err != nil {
			return nil, "", nil, err
		}
	}
	acl := ""
	if a, ok := form.get("acl"); ok {
		if !cannedACLs[a] {
			e := errMsg(s3err.InvalidArgument, "The canned ACL %s is not valid.", a)
			e.Extra = argument("acl", a)
			return nil, "", nil, e
		}
		acl = a
	}
	var md5want []byte
	if m, ok := form.get("Content-MD5"); ok {
		b, err := base64.StdEncoding.DecodeString(m)
		if err != nil || len(b) != md5.Size {
			return nil, "", nil, errCode(s3err.InvalidDigest)
		}
		md5want = b
	}
	return &object{Bucket: r.bucketName, Key: r.key, Headers: hdr}, acl, md5want, nil
}

// cannedACLs are the canned ACLs an object may be given.
var cannedACLs = map[string]bool{
	"private": true, "public-read": true, "public-read-write": true, "aws-exec-read": true,
	"authenticated-read": true, "bucket-owner-read": true, "bucket-owner-full-control": true,
}

// storePostFile streams the file part into blobs: at most upper bytes,
// which the Content-Length leaves for it. It returns the blobs, their
// intents, the file's MD5 and its size; on any error nothing is kept.
func (g *Gateway) storePostFile(r *request, store BlobStore, file *multipart.Part, upper, minSize, maxSize int64) ([]blob, []int64, []byte, int64, error) {
	if upper < 0 {
		return nil, nil, nil, 0, errCode(s3err.MalformedPOSTRequest)
	}
	sizeError := func(size int64) error {
		switch {
		case size > maxSize:
			e := errMsg(s3err.EntityTooLarge, "Your proposed upload exceeds the maximum allowed size")
			e.Extra = extra("ProposedSize", strconv.FormatInt(size, 10), "MaxSizeAllowed", strconv.FormatInt(maxSize, 10))
			return e
		case size < minSize:
			e := errMsg(s3err.EntityTooSmall, "Your proposed upload is smaller than the minimum allowed size")
			e.Extra = extra("ProposedSize", strconv.FormatInt(size, 10), "MinSizeAllowed", strconv.FormatInt(minSize, 10))
			return e
		}
		return nil
	}
	src := &partEOF{r: file}
	if upper <= postSmall+postTail {
		b, err := io.ReadAll(io.LimitReader(src, upper+1))
		if err != nil {
			return nil, nil, nil, 0, formError(err)
		}
		if !src.eof {
			return nil, nil, nil, 0, errCode(s3err.MalformedPOSTRequest)
		}
		size := int64(len(b))
		if err := sizeError(size); err != nil {
			return nil, nil, nil, 0, err
		}
		sum := md5.Sum(b)
		blobs, intents, err := g.writeBlobsTo(r.ctx, store, r.bucket.AppID, bytes.NewReader(b), size, 0)
		if err != nil {
			return nil, nil, nil, 0, bodyError(err)
		}
		return blobs, intents, sum[:], size, nil
	}
	// The file is longer than lead bytes unless more than postTail follows it.
	lead := upper - postTail
	if lead > maxSize {
		return nil, nil, nil, 0, sizeError(upper)
	}
	tee, sum, stop := newMD5Tee(src, upper)
	defer stop()
	blobs, intents, err := g.writeBlobsTo(r.ctx, store, r.bucket.AppID, io.LimitReader(tee, lead), lead, 0)
	if err != nil {
		if src.eof {
			return nil, nil, nil, 0, errMsg(s3err.MalformedPOSTRequest, "More than %d bytes of the form follow the file.", postTail)
		}
		return nil, nil, nil, 0, postBodyError(err)
	}
	fail := func(err error) ([]blob, []int64, []byte, int64, error) {
		g.expediteIntents(g.ctx, intents)
		return nil, nil, nil, 0, err
	}
	rest, err := io.ReadAll(io.LimitReader(tee, postTail+64<<10))
	if err != nil {
		return fail(formError(err))
	}
	if !src.eof {
		return fail(errCode(s3err.MalformedPOSTRequest))
	}
	size := lead + int64(len(rest))
	if err := sizeError(size); err != nil {
		return fail(err)
	}
	if len(rest) > 0 {
		more, moreIntents, err := g.writeBlobsTo(r.ctx, store, r.bucket.AppID, bytes.NewReader(rest), int64(len(rest)), 0)
		if err != nil {
			return fail(bodyError(err))
		}
		blobs, intents = append(blobs, more...), append(intents, moreIntents...)
	}
	return blobs, intents, sum(), size, nil
}

// postBodyError is bodyError for a form's file: the multipart reader's
// own failures are the form's.
func postBodyError(err error) error {
	var se *s3Error
	var ste *storeError
	if errors.As(err, &se) || errors.As(err, &ste) {
		return bodyError(err)
	}
	return formError(err)
}

// partEOF notes whether the file part ended cleanly (at its boundary).
type partEOF struct {
	r   io.Reader
	eof bool
}

func (p *partEOF) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == io.EOF {
		p.eof = true
	}
	return n, err
}

// postResponse is the 201 answer's document (without a namespace, as S3
// sends it).
type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string
	Bucket   string
	Key      string
	ETag     string
}

// postAnswer answers a stored upload: a redirect to success_action_redirect
// (or the older redirect) with bucket, key and etag added to its query, or
// success_action_status 200, 201 (with a PostResponse) or 204 (else).
func (r *request) postAnswer(form *postForm, o *object) error {
	etag := `"` + o.ETag + `"`
	r.c.Set("ETag", etag)
	scheme := "http"
	if r.c.Context().IsTLS() {
		scheme = "https"
	}
	loc := scheme + "://" + r.host + "/"
	if !r.vhost {
		loc += r.bucketName + "/"
	}
	loc += url.PathEscape(o.Key)
	r.c.Set("Location", loc)
	redirect, ok := form.get("success_action_redirect")
	if !ok {
		redirect, ok = form.get("redirect")
	}
	if u, err := url.Parse(redirect); ok && err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		sep := "?"
		if strings.Contains(redirect, "?") {
			sep = "&"
		}
		q := "bucket=" + url.QueryEscape(o.Bucket) + "&key=" + url.QueryEscape(o.Key) + "&etag=" + url.QueryEscape(etag)
		r.c.Set("Location", redirect+sep+q)
		return r.c.Status(http.StatusSeeOther).Send(nil)
	}
	switch s, _ := form.get("success_action_status"); s {
	case "200":
		return r.c.Status(http.StatusOK).Send(nil)
	case "201":
		return r.sendXML(http.StatusCreated, postResponse{Location: loc, Bucket: o.Bucket, Key: o.Key, ETag: etag})
	}
	return r.c.Status(http.StatusNoContent).Send(nil)
}

// postSSEFields are a form's server-side encryption fields, as the headers
// a PutObject would send.
func postSSEFields(form *postForm) http.Header {
	h := http.Header{}
	for lname := range form.fields {
		if strings.HasPrefix(lname, "x-amz-server-side-encryption") {
			v, _ := form.value(lname)
			h.Set(lname, v)
		}
	}
	return h
}
