package gateway

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/s3err"
	"github.com/tnv-s3/tnv/sigv4"
)

// storeBodyChecksum is storeBody that also computes alg's checksum of the
// (verified, decoded) body; a nil alg computes none.
func (g *Gateway) storeBodyChecksum(r *request, store BlobStore, size int64, n int, alg *sigv4.ChecksumAlgorithm) ([]blob, []int64, string, *checksumSum, error) {
	body, err := r.body()
	if err != nil {
		return nil, nil, "", nil, err
	}
	sum := newChecksumSum(alg)
	if alg != nil {
		// The body reader verifies the client's checksum of this
		// algorithm: its digest is the one kept, not computed twice.
		if name, verified, ok := sigv4.AdditionalChecksum(body); ok && name == alg.Name {
			sum.verified = verified
		} else {
			body = io.TeeReader(body, sum)
		}
	}
	tee, md5sum, stop := newMD5Tee(body, size)
	defer stop()
	blobs, intents, err := g.writeBlobsTo(r.ctx, store, r.bucket.AppID, tee, size, n)
	if err != nil {
		return nil, nil, "", nil, bodyError(err)
	}
	if sum.verified != nil && sum.verified() == nil {
		g.expediteIntents(g.ctx, intents)
		return nil, nil, "", nil, errInternal(fmt.Errorf("the body's %s was not verified at its end", alg.Name))
	}
	return blobs, intents, hex.EncodeToString(md5sum()), sum, nil
}

// copyBytesChecksum is copyBytes that also computes alg's checksum of the
// bytes copied.
// The source is decrypted with srcKey when it is encrypted, the copy
// encrypted with dstKey when set; the MD5 is the plaintext's.
func (g *Gateway) copyBytesChecksum(r *request, srcBucket *Bucket, src *object, srcKey []byte, off, n int64, part int, alg *sigv4.ChecksumAlgorithm, dstKey []byte) (string, []blob, []int64, *checksumSum, error) {
	rd := newBlobReader(r.ctx, g.sealedStore(srcKey, src.Blobs), srcBucket.AppID, src.Blobs, off, n)
	defer rd.Close()
	sum := newChecksumSum(alg)
	tee, md5sum, stop := newMD5Tee(io.TeeReader(rd, sum), n)
	defer stop()
	blobs, intents, err := g.writeBlobsTo(r.ctx, g.sealedStore(dstKey, nil), r.bucket.AppID, tee, n, part)
	if err != nil {
		return "", nil, nil, nil, errInternal(fmt.Errorf("copy %s/%s: %w", src.Bucket, src.Key, err))
	}
	return hex.EncodeToString(md5sum()), blobs, intents, sum, nil
}

// completeChecksum is the object checksum a CompleteMultipartUpload names
// in an x-amz-checksum-* header (and its x-amz-checksum-type), to be
// checked against the one made from the parts.
type completeChecksum struct {
	alg   *sigv4.ChecksumAlgorithm
	value string
	typ   string
}

// takeCompleteChecksum takes the x-amz-checksum-* header of a
// CompleteMultipartUpload out of the request: it is the object's
// checksum, not its XML body's, so the body reader must not check the
// body against it.
func takeCompleteChecksum(r *request) (completeChecksum, error) {
	var c completeChecksum
	for _, a := range sigv4.ChecksumAlgorithms {
		v := r.header.Get(a.Header)
		if v == "" {
			continue
		}
		if c.alg != nil {
			return c, errMsg(s3err.InvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		a := a
		c.alg, c.value = &a, strings.TrimSpace(v)
		r.header.Del(a.Header)
	}
	c.typ = strings.ToUpper(strings.TrimSpace(r.header.Get("X-Amz-Checksum-Type")))
	return c, nil
}

// checkCompletePart checks the checksum a CompleteMultipartUpload lists
// for part p against the one computed when it was uploaded: a wrong one
// is InvalidPart, a missing one is refused for a COMPOSITE upload (whose
// checksum is made of them), as S3 does.
func checkCompletePart(u *upload, rp completePart, p *part) error {
	alg, stored := partChecksumOf(u, p)
	if alg == "" {
		return nil // a part without a checksum: nothing to compare
	}
	up := u.Headers.Checksum
	v := strings.TrimSpace(*rp.field(alg))
	if v == "" {
		if up == nil {
			return nil
		}
		if len(rp.set()) > 0 {
			return errCode(s3err.InvalidPart) // another algorithm's
		}
		if up.Type == checksumComposite {
			return errMsg(s3err.InvalidRequest, "The upload was created using a %s checksum. The complete request must include the checksum for each part. It was missing for part %d in the request.",
				strings.ToLower(up.Algorithm), rp.PartNumber)
		}
		return nil
	}
	if v != stored {
		return errCode(s3err.InvalidPart)
	}
	return nil
}

// partBlobs are the blobs of part p in the completed object: with an
// upload checksum, the first carries the part's checksum.
func partBlobs(u *upload, p *part) []blob {
	_, v := partChecksumOf(u, p)
	if u.Headers.Checksum == nil || v == "" || len(p.Blobs) == 0 {
		return p.Blobs
	}
	bs := slices.Clone(p.Blobs)
	bs[0].Sum = v
	return bs
}

// completedChecksum is the checksum of the object an upload completes
// into from the parts listed, checked against the one the client names;
// nil when the upload has none.
//
// An upload created without an algorithm gets the checksum the client
// names at completion (its algorithm, and its type or the default), made
// from the checksums its parts were sent with: all of them must be of
// that algorithm, or it cannot be verified and is refused.
func completedChecksum(u *upload, listed []part, want completeChecksum) (*index.Checksum, error) {
	up := u.Headers.Checksum
	if up == nil {
		if want.alg == nil {
			return nil, nil
		}
		typ, err := checksumType(*want.alg, want.typ)
		if err != nil {
			return nil, err
		}
		up = &index.Checksum{Algorithm: want.alg.Name, Type: typ}
		for i := range listed {
			if alg, _ := partChecksumOf(u, &listed[i]); alg != up.Algorithm {
				return nil, errMsg(s3err.InvalidRequest, "The upload was created without a checksum algorithm and part %d was not uploaded with a %s checksum: the object's checksum cannot be verified.",
					listed[i].Number, strings.ToLower(up.Algorithm))
			}
		}
	}
	if want.typ != "" && want.typ != up.Type {
		return nil, errMsg(s3err.InvalidRequest, "The upload was created using the %s checksum mode. The complete request must use the same checksum mode.", up.Type)
	}
	if want.alg != nil && want.alg.Name != up.Algorithm {
		return nil, typeMismatch(up.Algorithm, want.alg.Name)
	}
	bare := make([]part, len(listed))
	for i := range listed {
		bare[i] = listed[i]
		_, bare[i].Checksum = partChecksumOf(u, &listed[i])
	}
	ck, ok, err := objectChecksum(up, bare)
	if err != nil {
		return nil, errInternal(err)
	}
	if !ok {
		return nil, nil
	}
	if want.alg != nil {
		v := want.value
		if up.Type == checksumComposite {
			// "<base64>-N": the count must be the parts'
			if b, n, found := strings.Cut(v, "-"); found {
				if n != fmt.Sprint(len(listed)) {
					return nil, errMsg(s3err.BadDigest, "The %s you specified did not match the calculated checksum.", up.Algorithm)
				}
				v = b
			}
		}
		if raw, err := base64.StdEncoding.DecodeString(v); err != nil || len(raw) != want.alg.Size {
			return nil, errMsg(s3err.InvalidRequest, "Value for %s header is invalid.", want.alg.Header)
		}
		if v != ck.Value {
			return nil, errMsg(s3err.BadDigest, "The %s you specified did not match the calculated checksum.", up.Algorithm)
		}
	}
	return ck, nil
}
