package gateway

import (
	"encoding/base64"
	"encoding/binary"
	"hash"
	"net/http"
	"strconv"
	"strings"

	"github.com/tnv-s3/tnv/gateway/index"
	"github.com/tnv-s3/tnv/s3err"
	"github.com/tnv-s3/tnv/sigv4"
)

// S3's additional checksums ("Checking object integrity"): an object may
// carry one checksum of CRC32, CRC32C, CRC64NVME, SHA1 or SHA256, stored
// with it and returned on GET/HEAD with x-amz-checksum-mode: ENABLED.
// A single PUT's is the checksum of its bytes (FULL_OBJECT). A multipart
// upload declares its algorithm at creation, every part's checksum is
// computed (and checked when the client sends one), and at completion the
// object's is made of the parts' checksums: COMPOSITE, the checksum of
// their concatenated binary values shown with "-N", or, for the CRCs,
// FULL_OBJECT, the CRC of the whole object combined from the parts' CRCs
// and sizes (checksum_combine.go), without reading the data again.

const (
	checksumFullObject = "FULL_OBJECT"
	checksumComposite  = "COMPOSITE"
)

// checksumAlg is an algorithm by its name ("CRC32"), any case.
func checksumAlg(name string) (sigv4.ChecksumAlgorithm, bool) {
	for _, a := range sigv4.ChecksumAlgorithms {
		if strings.EqualFold(a.Name, name) {
			return a, true
		}
	}
	return sigv4.ChecksumAlgorithm{}, false
}

// crcPolyOf is the CRC an algorithm is, if it is one (only CRCs can be
// combined into a full-object checksum).
func crcPolyOf(name string) (crcPoly, bool) {
	switch name {
	case "CRC32":
		return polyCRC32, true
	case "CRC32C":
		return polyCRC32C, true
	case "CRC64NVME":
		return polyCRC64NVME, true
	}
	return crcPoly{}, false
}

const msgUnsupportedChecksum = "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"

// uploadChecksum reads x-amz-checksum-algorithm and x-amz-checksum-type
// of a CreateMultipartUpload: nil when no algorithm is asked for. The type
// defaults to COMPOSITE, except for CRC64NVME which is only FULL_OBJECT;
// SHA1 and SHA256 cannot be combined, so they are only COMPOSITE.
func uploadChecksum(h http.Header) (*index.Checksum, error) {
	name, typ := h.Get("X-Amz-Checksum-Algorithm"), strings.ToUpper(strings.TrimSpace(h.Get("X-Amz-Checksum-Type")))
	if name == "" {
		if typ != "" {
			return nil, errMsg(s3err.InvalidRequest, "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		}
		return nil, nil
	}
	a, ok := checksumAlg(strings.TrimSpace(name))
	if !ok {
		return nil, errMsg(s3err.InvalidRequest, msgUnsupportedChecksum)
	}
	typ, err := checksumType(a, typ)
	if err != nil {
		return nil, err
	}
	return &index.Checksum{Algorithm: a.Name, Type: typ}, nil
}

// checksumType checks a checksum type (upper case) for algorithm a, and
// gives the default for "".
func checksumType(a sigv4.ChecksumAlgorithm, typ string) (string, error) {
	_, crc := crcPolyOf(a.Name)
	switch typ {
	case "":
		if a.Name == "CRC64NVME" {
			return checksumFullObject, nil
		}
		return checksumComposite, nil
	case checksumFullObject:
		if !crc {
			return "", errMsg(s3err.InvalidRequest, "The FULL_OBJECT checksum type cannot be used with the %s checksum algorithm.", strings.ToLower(a.Name))
		}
	case checksumComposite:
		if a.Name == "CRC64NVME" {
			return "", errMsg(s3err.InvalidRequest, "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
		}
	default:
		return "", errMsg(s3err.InvalidRequest, "Value for x-amz-checksum-type header is invalid.")
	}
	return typ, nil
}

// sentChecksum is the algorithm of the checksum a request's body comes
// with: an x-amz-checksum-* header or trailer, or the algorithm the SDK
// names in x-amz-sdk-checksum-algorithm.
func sentChecksum(h http.Header) (sigv4.ChecksumAlgorithm, bool) {
	for _, a := range sigv4.ChecksumAlgorithms {
		if h.Get(a.Header) != "" {
			return a, true
		}
	}
	for _, line := range h.Values("X-Amz-Trailer") {
		for _, name := range strings.Split(line, ",") {
			if a, ok := sigv4.ChecksumByHeader(strings.TrimSpace(name)); ok {
				return a, true
			}
		}
	}
	if v := h.Get("X-Amz-Sdk-Checksum-Algorithm"); v != "" {
		return checksumAlg(v)
	}
	return sigv4.ChecksumAlgorithm{}, false
}

// typeMismatch is S3's refusal of a part whose checksum is not of its
// upload's algorithm ("null" for none).
func typeMismatch(want, got string) error {
	lower := func(s string) string {
		if s == "" {
			return "null"
		}
		return strings.ToLower(s)
	}
	return errMsg(s3err.InvalidRequest, "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s", lower(want), lower(got))
}

// partChecksumAlg is the algorithm an UploadPart (or UploadPartCopy) of
// upload u is hashed with, nil for none. A COMPOSITE upload needs the
// part's checksum from the client; a FULL_OBJECT one computes it when the
// client sends none. A checksum of another algorithm is refused. An
// upload created without an algorithm takes parts with any checksum (the
// body reader verifies it), as SDKs that add one by default expect, and
// keeps it with its algorithm (partChecksumOf): a client that names the
// object's checksum only at completion (minio-go does) can be answered.
func partChecksumAlg(u *upload, h http.Header, copy bool) (*sigv4.ChecksumAlgorithm, error) {
	ck := u.Headers.Checksum
	if ck == nil {
		if a, ok := sentChecksum(h); ok && !copy {
			return &a, nil
		}
		return nil, nil
	}
	a, ok := checksumAlg(ck.Algorithm)
	if !ok {
		return nil, errInternal(errStoredChecksum(ck.Algorithm))
	}
	if copy {
		return &a, nil
	}
	sent, ok := sentChecksum(h)
	switch {
	case ok && sent.Name != a.Name:
		return nil, typeMismatch(a.Name, sent.Name)
	case !ok && ck.Type == checksumComposite:
		return nil, typeMismatch(a.Name, "")
	}
	return &a, nil
}

// storedPartChecksum is how a part's checksum value is kept: bare in an
// upload with an algorithm, "ALG:value" in one without (base64 has no
// colon).
func storedPartChecksum(u *upload, alg *sigv4.ChecksumAlgorithm, value string) string {
	if alg == nil || value == "" {
		return ""
	}
	if u.Headers.Checksum == nil {
		return alg.Name + ":" + value
	}
	return value
}

// partChecksumOf is the algorithm and value of part p's checksum ("" for
// none).
func partChecksumOf(u *upload, p *part) (alg, value string) {
	if p.Checksum == "" {
		return "", ""
	}
	if a, v, ok := strings.Cut(p.Checksum, ":"); ok {
		return a, v
	}
	if u.Headers.Checksum == nil {
		return "", ""
	}
	return u.Headers.Checksum.Algorithm, p.Checksum
}

type errStoredChecksum string

func (e errStoredChecksum) Error() string {
	return "stored checksum algorithm " + strconv.Quote(string(e))
}

// objectChecksumAlg is the algorithm a PutObject's checksum is computed
// with: the one the client sends (header or trailer, which the body
// reader verifies) or names, nil for none.
func objectChecksumAlg(h http.Header) *sigv4.ChecksumAlgorithm {
	if a, ok := sentChecksum(h); ok {
		return &a
	}
	return nil
}

// copyChecksumAlg is the algorithm of a CopyObject's new checksum: the
// one x-amz-checksum-algorithm asks for, else the source's (computed
// again over the bytes: the copy is a single object, FULL_OBJECT), nil
// for none.
func copyChecksumAlg(h http.Header, src *object) (*sigv4.ChecksumAlgorithm, error) {
	if name := h.Get("X-Amz-Checksum-Algorithm"); name != "" {
		a, ok := checksumAlg(strings.TrimSpace(name))
		if !ok {
			return nil, errMsg(s3err.InvalidRequest, msgUnsupportedChecksum)
		}
		return &a, nil
	}
	if ck := src.Headers.Checksum; ck != nil {
		if a, ok := checksumAlg(ck.Algorithm); ok {
			return &a, nil
		}
	}
	return nil, nil
}

// checksumSum is a running checksum of a body in algorithm alg; a nil alg
// hashes nothing and yields nil.
type checksumSum struct {
	alg *sigv4.ChecksumAlgorithm
	h   hash.Hash
	// verified, when set, is the digest the body reader verified
	// (sigv4.AdditionalChecksum), used instead of h.
	verified func() []byte
}

func newChecksumSum(alg *sigv4.ChecksumAlgorithm) *checksumSum {
	s := &checksumSum{alg: alg}
	if alg != nil {
		s.h = alg.New()
	}
	return s
}

func (s *checksumSum) Write(p []byte) (int, error) {
	if s.h != nil {
		s.h.Write(p)
	}
	return len(p), nil
}

// value is the base64 checksum, "" without an algorithm.
func (s *checksumSum) value() string {
	switch {
	case s.alg == nil:
		return ""
	case s.verified != nil:
		return base64.StdEncoding.EncodeToString(s.verified())
	}
	return base64.StdEncoding.EncodeToString(s.h.Sum(nil))
}

// full is the FULL_OBJECT checksum of a single PUT or copy, nil without
// an algorithm.
func (s *checksumSum) full() *index.Checksum {
	if s.alg == nil {
		return nil
	}
	return &index.Checksum{Algorithm: s.alg.Name, Type: checksumFullObject, Value: s.value()}
}

// shown is a checksum as GET, HEAD and CompleteMultipartUpload show it: a
// composite one with the number of parts.
func shown(ck *index.Checksum, parts int) string {
	if ck.Type == checksumComposite && parts > 0 {
		return ck.Value + "-" + strconv.Itoa(parts)
	}
	return ck.Value
}

// setChecksumHeaders writes x-amz-checksum-<algorithm> and
// x-amz-checksum-type.
func (r *request) setChecksumHeaders(ck *index.Checksum, value string) {
	if ck == nil {
		return
	}
	a, ok := checksumAlg(ck.Algorithm)
	if !ok {
		return
	}
	r.c.Set(a.Header, value)
	r.c.Set("x-amz-checksum-type", ck.Type)
}

// checksumModeEnabled reports x-amz-checksum-mode: ENABLED.
func (r *request) checksumModeEnabled() bool {
	return strings.EqualFold(strings.TrimSpace(r.header.Get("X-Amz-Checksum-Mode")), "ENABLED")
}

// setGetChecksum adds the object's checksum to a GET or HEAD that asks for
// it with x-amz-checksum-mode: ENABLED. Only whole-object reads carry one,
// as S3 does: a Range is not what the checksum covers. With partNumber
// (part > 0) a COMPOSITE object shows that part's checksum and a
// FULL_OBJECT one only when the part is the whole object.
func (r *request) setGetChecksum(o *object, part int, ranged bool) {
	ck := o.Headers.Checksum
	if ck == nil || ranged || !r.checksumModeEnabled() {
		return
	}
	switch {
	case part == 0:
		r.setChecksumHeaders(ck, shown(ck, o.Parts))
	case o.Parts <= 1:
		r.setChecksumHeaders(ck, ck.Value)
	case ck.Type == checksumComposite:
		if v := partSum(o, part); v != "" {
			r.setChecksumHeaders(ck, v)
		}
	}
}

// partSum is the checksum of part p of a completed upload ("" if not kept).
func partSum(o *object, p int) string {
	for _, b := range o.Blobs {
		if b.Part == p {
			return b.Sum
		}
	}
	return ""
}

// checksumFields are the Checksum* elements of S3's documents; one is set.
type checksumFields struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
}

// field returns the element of algorithm name.
func (f *checksumFields) field(name string) *string {
	switch name {
	case "CRC32":
		return &f.ChecksumCRC32
	case "CRC32C":
		return &f.ChecksumCRC32C
	case "CRC64NVME":
		return &f.ChecksumCRC64NVME
	case "SHA1":
		return &f.ChecksumSHA1
	case "SHA256":
		return &f.ChecksumSHA256
	}
	return nil
}

// makeChecksumFields sets the element of alg to value ("" sets none).
func makeChecksumFields(alg, value string) checksumFields {
	var f checksumFields
	if p := f.field(alg); p != nil {
		*p = value
	}
	return f
}

// set lists the algorithms that have a value.
func (f *checksumFields) set() []string {
	var out []string
	for _, a := range sigv4.ChecksumAlgorithms {
		if *f.field(a.Name) != "" {
			out = append(out, a.Name)
		}
	}
	return out
}

// objectChecksum makes the checksum of an object completed from parts
// (each with its checksum in its upload's algorithm and its size), per
// the upload's type: COMPOSITE hashes the concatenated binary checksums,
// FULL_OBJECT combines the CRCs. ok is false when a part has no checksum
// (uploaded before the gateway kept them): the object then has none.
func objectChecksum(up *index.Checksum, parts []part) (ck *index.Checksum, ok bool, err error) {
	a, found := checksumAlg(up.Algorithm)
	if !found {
		return nil, false, errStoredChecksum(up.Algorithm)
	}
	raws := make([][]byte, len(parts))
	for i, p := range parts {
		raw, err := base64.StdEncoding.DecodeString(p.Checksum)
		if p.Checksum == "" || err != nil || len(raw) != a.Size {
			return nil, false, nil
		}
		raws[i] = raw
	}
	out := &index.Checksum{Algorithm: a.Name, Type: up.Type}
	if up.Type == checksumComposite {
		h := a.New()
		for _, raw := range raws {
			h.Write(raw)
		}
		out.Value = base64.StdEncoding.EncodeToString(h.Sum(nil))
		return out, true, nil
	}
	poly, isCRC := crcPolyOf(a.Name)
	if !isCRC {
		return nil, false, errStoredChecksum(up.Algorithm + "/" + up.Type)
	}
	var crc uint64
	for i, raw := range raws {
		v := beUint(raw)
		if i == 0 {
			crc = v
			continue
		}
		crc = poly.combine(crc, v, parts[i].Size)
	}
	out.Value = base64.StdEncoding.EncodeToString(putBeUint(crc, a.Size))
	return out, true, nil
}

func beUint(b []byte) uint64 {
	if len(b) == 4 {
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

func putBeUint(v uint64, size int) []byte {
	b := make([]byte, size)
	if size == 4 {
		binary.BigEndian.PutUint32(b, uint32(v))
	} else {
		binary.BigEndian.PutUint64(b, v)
	}
	return b
}
