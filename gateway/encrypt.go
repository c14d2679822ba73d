package gateway

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/gateway/sse"
	"github.com/tnv-s3/tnv/s3err"
)

// Server-side encryption (docs/s3-compatibility.md, gateway/sse): SSE-S3
// seals each object's data key with the gateway's master key, SSE-C with a
// key derived from the key the client sends with every request. Encryption
// happens in the gateway: storage nodes only ever hold ciphertext.

// What seals a data key, so that a key sealed for one kind never opens as
// the other.
const (
	aadS3 = "tnv-sse-s3-v1"
	aadC  = "tnv-sse-c-v1"
)

const (
	hdrSSE          = "X-Amz-Server-Side-Encryption"
	hdrSSECPrefix   = "X-Amz-Server-Side-Encryption-Customer-"
	hdrCopySSECPref = "X-Amz-Copy-Source-Server-Side-Encryption-Customer-"
)

// customerKey is an SSE-C key a request sent, with the MD5 it gave for it
// (echoed in answers, as S3 does).
type customerKey struct {
	key []byte
	md5 string // base64, as sent
}

// parseCustomerKey reads the SSE-C headers under prefix (the object's, or
// the copy source's); nil when none is present.
func parseCustomerKey(h http.Header, prefix string) (*customerKey, error) {
	alg, k, sum := h.Get(prefix+"Algorithm"), h.Get(prefix+"Key"), h.Get(prefix+"Key-Md5")
	if alg == "" && k == "" && sum == "" {
		return nil, nil
	}
	const must = "Requests specifying Server Side Encryption with Customer provided keys must provide "
	switch {
	case alg == "":
		return nil, errMsg(s3err.InvalidArgument, must+"a valid encryption algorithm.")
	case alg != "AES256":
		return nil, errCode(s3err.InvalidEncryptionAlgorithmError)
	case k == "":
		return nil, errMsg(s3err.InvalidArgument, must+"an appropriate secret key.")
	case sum == "":
		return nil, errMsg(s3err.InvalidArgument, must+"the client calculated MD5 of the secret key.")
	}
	key, err := base64.StdEncoding.DecodeString(k)
	if err != nil || len(key) != sse.KeySize {
		return nil, errMsg(s3err.InvalidArgument, "The secret key was invalid for the specified algorithm.")
	}
	got := md5.Sum(key)
	if want, err := base64.StdEncoding.DecodeString(sum); err != nil || string(want) != string(got[:]) {
		return nil, errMsg(s3err.InvalidArgument, "The calculated MD5 hash of the key did not match the hash that was provided.")
	}
	return &customerKey{key: key, md5: sum}, nil
}

// requestCustomerKey is parseCustomerKey of the request's headers, with a
// key sent in the clear refused (sseCTransport).
func (r *request) requestCustomerKey(prefix string) (*customerKey, error) {
	ck, err := parseCustomerKey(r.header, prefix)
	if err != nil || ck == nil {
		return ck, err
	}
	return ck, r.sseCTransport()
}

// kmsHeaders are the SSE-KMS headers, refused without aws:kms.
var kmsHeaders = []string{"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "X-Amz-Server-Side-Encryption-Context"}

// sseWrite is the encryption of an object (or upload) being written.
type sseWrite struct {
	rec     *index.SSE // what the index keeps
	dataKey []byte
	ck      *customerKey // SSE-C: the request's key, echoed
}

func (w *sseWrite) key() []byte {
	if w == nil {
		return nil
	}
	return w.dataKey
}

func (w *sseWrite) record() *index.SSE {
	if w == nil {
		return nil
	}
	return w.rec
}

func (w *sseWrite) customer() *customerKey {
	if w == nil {
		return nil
	}
	return w.ck
}

// newWriteSSE decides how a new object (PutObject, CreateMultipartUpload,
// CopyObject's destination) is encrypted: as its headers ask, else as its
// bucket's default; nil for not at all.
func (g *Gateway) newWriteSSE(r *request) (*sseWrite, error) {
	return g.newWriteSSEFrom(r, r.header)
}

// newWriteSSEFrom is newWriteSSE with the encryption named by h (a POST
// form's fields) rather than the request's headers.
func (g *Gateway) newWriteSSEFrom(r *request, h http.Header) (*sseWrite, error) {
	ck, err := parseCustomerKey(h, hdrSSECPrefix)
	if err != nil {
		return nil, err
	}
	alg := h.Get(hdrSSE)
	if alg != "aws:kms" && alg != "aws:kms:dsse" {
		for _, k := range kmsHeaders {
			if h.Get(k) != "" {
				return nil, errMsg(s3err.InvalidArgument, "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms")
			}
		}
	}
	switch {
	case alg != "" && ck != nil:
		return nil, errMsg(s3err.InvalidArgument, "Server Side Encryption with Customer provided key is incompatible with the encryption method specified")
	case alg == "aws:kms" || alg == "aws:kms:dsse":
		return nil, errMsg(s3err.NotImplemented, "Server-side encryption with KMS keys (SSE-KMS) is not implemented by this gateway; use AES256 (SSE-S3) or SSE-C.")
	case alg != "" && alg != "AES256":
		return nil, errMsg(s3err.InvalidArgument, "The encryption method specified is not supported")
	case ck != nil:
		if err := r.sseCTransport(); err != nil {
			return nil, err
		}
		dk, salt := sse.NewDataKey(), sse.NewSalt()
		return &sseWrite{dataKey: dk, ck: ck, rec: &index.SSE{Kind: index.SSEKindC,
			Sealed: sse.Seal(sse.CustomerKEK(ck.key, salt), dk, aadC), Salt: salt, KeyID: sse.CustomerKeyID(ck.key, salt)}}, nil
	case alg == "" && (r.bucket == nil || r.bucket.Encryption == ""):
		return nil, nil
	}
	if g.cfg.MasterKey == nil {
		return nil, errMsg(s3err.NotImplemented, "Server-side encryption with S3 managed keys (AES256) needs the gateway's master key (--kms-key-file).")
	}
	dk := sse.NewDataKey()
	return &sseWrite{dataKey: dk, rec: &index.SSE{Kind: index.SSEKindS3, Sealed: sse.Seal(g.cfg.MasterKey, dk, aadS3), Master: g.masterID}}, nil
}

// sseCTransport refuses an SSE-C key sent in the clear: S3 wants HTTPS.
// A client on this machine (loopback) is let through, since its key never
// leaves it.
func (r *request) sseCTransport() error {
	if r.c.Context().IsTLS() || r.c.Context().RemoteIP().IsLoopback() {
		return nil
	}
	return errMsg(s3err.InvalidRequest, "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.")
}

// openSSE opens the data key of a stored object (or upload) with what the
// request sent (ck: its SSE-C key under the headers it reads; nil none).
// A plain object gives a nil key.
func (g *Gateway) openSSE(rec *index.SSE, ck *customerKey) ([]byte, error) {
	if rec == nil {
		if ck != nil {
			return nil, errMsg(s3err.InvalidRequest, "The encryption parameters are not applicable to this object.")
		}
		return nil, nil
	}
	switch rec.Kind {
	case index.SSEKindC:
		if ck == nil {
			return nil, errMsg(s3err.InvalidRequest, "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.")
		}
		if !sse.SameCustomerKey(ck.key, rec.Salt, rec.KeyID) {
			return nil, errMsg(s3err.AccessDenied, "The provided customer key does not match the key the object was encrypted with.")
		}
		dk, err := sse.Open(sse.CustomerKEK(ck.key, rec.Salt), rec.Sealed, aadC)
		if err != nil {
			return nil, errInternal(fmt.Errorf("sse-c: the data key does not open: %w", err))
		}
		return dk, nil
	case index.SSEKindS3:
		if ck != nil {
			return nil, errMsg(s3err.InvalidRequest, "The encryption parameters are not applicable to this object.")
		}
		if g.cfg.MasterKey == nil {
			return nil, errInternal(fmt.Errorf("sse-s3: the object was sealed by master key %s and this gateway has none (--kms-key-file)", rec.Master))
		}
		if rec.Master != g.masterID {
			return nil, errInternal(fmt.Errorf("sse-s3: the object was sealed by master key %s, this gateway's is %s", rec.Master, g.masterID))
		}
		dk, err := sse.Open(g.cfg.MasterKey, rec.Sealed, aadS3)
		if err != nil {
			return nil, errInternal(fmt.Errorf("sse-s3: the data key does not open: %w", err))
		}
		return dk, nil
	}
	return nil, errInternal(fmt.Errorf("sse: unknown kind %q", rec.Kind))
}

// readSSE opens the data key of an object a GET or HEAD reads; the SSE-C
// key comes from the request's headers.
func (g *Gateway) readSSE(r *request, o *object) ([]byte, *customerKey, error) {
	if r.header.Get(hdrSSE) != "" {
		return nil, nil, errMsg(s3err.InvalidArgument, "x-amz-server-side-encryption header is not supported for this operation.")
	}
	ck, err := r.requestCustomerKey(hdrSSECPrefix)
	if err != nil {
		return nil, nil, err
	}
	dk, err := g.openSSE(o.Headers.SSE, ck)
	return dk, ck, err
}

// setSSEHeaders tells the client how an object is encrypted, as S3 does.
func (r *request) setSSEHeaders(rec *index.SSE, ck *customerKey) {
	switch {
	case rec == nil:
	case rec.Kind == index.SSEKindS3:
		r.c.Set(hdrSSE, "AES256")
	case rec.Kind == index.SSEKindC && ck != nil:
		r.c.Set(hdrSSECPrefix+"Algorithm", "AES256")
		r.c.Set(hdrSSECPrefix+"Key-MD5", ck.md5)
	}
}

// copySourceKey opens the data key of a copy's source with the
// x-amz-copy-source-server-side-encryption-customer-* headers.
func (g *Gateway) copySourceKey(r *request, src *object) ([]byte, error) {
	ck, err := r.requestCustomerKey(hdrCopySSECPref)
	if err != nil {
		return nil, err
	}
	if rec := src.Headers.SSE; rec != nil && rec.Kind == index.SSEKindC && ck == nil {
		return nil, errMsg(s3err.InvalidRequest, "The source object of the COPY action is encrypted. Provide the x-amz-copy-source-server-side-encryption-customer-* headers to copy it.")
	}
	return g.openSSE(src.Headers.SSE, ck)
}

// sseAsked reports whether a request names an encryption of its own.
func sseAsked(h http.Header) bool {
	return h.Get(hdrSSE) != "" || h.Get(hdrSSECPrefix+"Algorithm") != ""
}

// partSSE opens the data key of an upload a part is written to: an SSE-C
// upload needs the key it was initiated with on every part.
func (g *Gateway) partSSE(r *request, u *upload) ([]byte, *customerKey, error) {
	ck, err := parseCustomerKey(r.header, hdrSSECPrefix)
	if err != nil {
		return nil, nil, err
	}
	rec := u.Headers.SSE
	switch {
	case rec != nil && rec.Kind == index.SSEKindC && ck == nil:
		return nil, nil, errMsg(s3err.InvalidRequest, "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.")
	case ck != nil && (rec == nil || rec.Kind != index.SSEKindC || !sse.SameCustomerKey(ck.key, rec.Salt, rec.KeyID)):
		return nil, nil, errMsg(s3err.InvalidRequest, "The provided encryption parameters did not match the ones used originally.")
	case ck != nil:
		if err := r.sseCTransport(); err != nil {
			return nil, nil, err
		}
	}
	dk, err := g.openSSE(rec, ck)
	return dk, ck, err
}

// sseETag is the ETag of bytes whose MD5 is sum (hex) in an object (or
// upload) encrypted as rec with dataKey.
func sseETag(rec *index.SSE, dataKey []byte, sum string) string {
	if rec == nil {
		return sum
	}
	return (&sseWrite{rec: rec, dataKey: dataKey}).etag(sum)
}

// etag is the ETag of bytes whose MD5 is sum (hex): the MD5 itself, but for
// SSE-C, whose ETags are not (as in S3): the MD5 of the plaintext would
// give away what is encrypted.
func (w *sseWrite) etag(sum string) string {
	if w == nil || w.rec.Kind != index.SSEKindC {
		return sum
	}
	raw, _ := hex.DecodeString(sum)
	return hex.EncodeToString(sse.ETag(w.dataKey, raw))
}

// store is where an encrypted object's blobs are written: g's store behind
// encryption.
func (g *Gateway) sealedStore(dataKey []byte, blobs []blob) BlobStore {
	if dataKey == nil {
		return g.cfg.Blobs
	}
	sizes := make(map[string]int64, len(blobs))
	for _, b := range blobs {
		sizes[b.FileID] = b.Size
	}
	return sealedStore{inner: g.cfg.Blobs, dataKey: dataKey, sizes: sizes}
}

// sealedStore encrypts what it stores and decrypts what it reads, in
// sse's packages. Offsets and sizes are the plaintext's; sizes holds the
// plaintext size of each blob it may read (the index's Blob.Size).
type sealedStore struct {
	inner   BlobStore
	dataKey []byte
	sizes   map[string]int64
}

func (s sealedStore) Put(ctx context.Context, appid, userid, fileid string, r io.Reader, size int64) error {
	enc := sse.NewEncrypter(r, sse.BlobKey(s.dataKey, userid, fileid), size)
	return s.inner.Put(ctx, appid, userid, fileid, enc, sse.SealedSize(size))
}

func (s sealedStore) Get(ctx context.Context, appid, userid, fileid string, offset, size int64) (io.ReadCloser, error) {
	total, ok := s.sizes[fileid]
	if !ok {
		return nil, fmt.Errorf("sse: blob %s/%s is not one of the object's", userid, fileid)
	}
	if size == 0 {
		size = total - offset
	}
	if offset < 0 || size <= 0 || offset+size > total {
		return nil, fmt.Errorf("sse: bytes [%d, +%d) of a %d-byte blob", offset, size, total)
	}
	span := sse.SpanOf(total, offset, size)
	rc, err := s.inner.Get(ctx, appid, userid, fileid, span.Offset, span.Size)
	if err != nil {
		return nil, err
	}
	return decryptingBlob{Decrypter: sse.NewDecrypter(rc, sse.BlobKey(s.dataKey, userid, fileid), total, offset, size), rc: rc}, nil
}

func (s sealedStore) Delete(ctx context.Context, appid, userid, fileid string) error {
	return s.inner.Delete(ctx, appid, userid, fileid)
}

type decryptingBlob struct {
	*sse.Decrypter
	rc io.ReadCloser
}

func (d decryptingBlob) Close() error { return d.rc.Close() }

// ---- bucket default encryption (?encryption)

type sseConfiguration struct {
	XMLName xml.Name  `xml:"ServerSideEncryptionConfiguration"`
	Xmlns   string    `xml:"xmlns,attr,omitempty"`
	Rule    []sseRule `xml:"Rule"`
}

type sseRule struct {
	Default *struct {
		SSEAlgorithm   string `xml:"SSEAlgorithm"`
		KMSMasterKeyID string `xml:"KMSMasterKeyID,omitempty"`
	} `xml:"ApplyServerSideEncryptionByDefault"`
	BucketKeyEnabled *bool `xml:"BucketKeyEnabled"`
}

// parseSSEConfiguration reads a PutBucketEncryption body: one rule whose
// default algorithm is AES256 (aws:kms is NotImplemented).
func parseSSEConfiguration(b []byte) (string, error) {
	var c sseConfiguration
	if err := decodeStrict(b, &c); err != nil || len(c.Rule) == 0 {
		return "", errCode(s3err.MalformedXML)
	}
	if len(c.Rule) > 1 {
		return "", errMsg(s3err.MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema: only one Rule is allowed.")
	}
	d := c.Rule[0].Default
	if d == nil || d.SSEAlgorithm == "" {
		return "", errCode(s3err.MalformedXML)
	}
	switch d.SSEAlgorithm {
	case "AES256":
		if d.KMSMasterKeyID != "" {
			return "", errMsg(s3err.InvalidArgument, "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse")
		}
		return "AES256", nil
	case "aws:kms", "aws:kms:dsse":
		return "", errMsg(s3err.NotImplemented, "Server-side encryption with KMS keys (SSE-KMS) is not implemented by this gateway; use AES256.")
	}
	return "", errMsg(s3err.MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema: unknown SSEAlgorithm.")
}

func (g *Gateway) putBucketEncryption(r *request) error {
	if err := requireDigest(r.header); err != nil {
		return err
	}
	b, err := r.readXML(64 << 10)
	if err != nil {
		return err
	}
	alg, err := parseSSEConfiguration(b)
	if err != nil {
		return err
	}
	if g.cfg.MasterKey == nil {
		return errMsg(s3err.NotImplemented, "Server-side encryption with S3 managed keys (AES256) needs the gateway's master key (--kms-key-file).")
	}
	if err := g.idx.SetEncryption(r.ctx, r.bucketName, alg); err != nil {
		return toS3Error(err)
	}
	return r.c.Status(http.StatusOK).Send(nil)
}

func (g *Gateway) getBucketEncryption(r *request) error {
	if r.bucket.Encryption == "" {
		return errCode(s3err.ServerSideEncryptionConfigurationNotFoundError)
	}
	rule := sseRule{BucketKeyEnabled: new(bool)}
	rule.Default = &struct {
		SSEAlgorithm   string `xml:"SSEAlgorithm"`
		KMSMasterKeyID string `xml:"KMSMasterKeyID,omitempty"`
	}{SSEAlgorithm: r.bucket.Encryption}
	return r.sendXML(http.StatusOK, sseConfiguration{Xmlns: xmlns, Rule: []sseRule{rule}})
}

func (g *Gateway) deleteBucketEncryption(r *request) error {
	if err := g.idx.SetEncryption(r.ctx, r.bucketName, ""); err != nil {
		return toS3Error(err)
	}
	return r.c.Status(http.StatusNoContent).Send(nil)
}
