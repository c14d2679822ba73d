package gateway

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/tnv-s3/tnv/s3err"
	"github.com/tnv-s3/tnv/sigv4"
)

// GetObjectAttributes (GET /bucket/key?attributes): what HEAD and
// ListParts would tell of an object, in one document, the attributes
// named in x-amz-object-attributes only.

// objectAttributes are the attributes S3 knows, as a set.
type objectAttributes struct {
	ETag, Checksum, ObjectParts, StorageClass, ObjectSize bool
}

// parseObjectAttributes reads the x-amz-object-attributes values (a comma
// list, possibly over several header lines); names are case-sensitive, as
// S3 has them.
func parseObjectAttributes(values []string) (objectAttributes, error) {
	var a objectAttributes
	n := 0
	for _, line := range values {
		for _, name := range strings.Split(line, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			switch name {
			case "ETag":
				a.ETag = true
			case "Checksum":
				a.Checksum = true
			case "ObjectParts":
				a.ObjectParts = true
			case "StorageClass":
				a.StorageClass = true
			case "ObjectSize":
				a.ObjectSize = true
			default:
				return a, errMsg(s3err.InvalidArgument, "Invalid attribute name specified.")
			}
			n++
		}
	}
	if n == 0 {
		return a, errMsg(s3err.InvalidRequest, "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	return a, nil
}

type getObjectAttributesResponse struct {
	XMLName      xml.Name `xml:"GetObjectAttributesResponse"`
	Xmlns        string   `xml:"xmlns,attr"`
	ETag         string   `xml:",omitempty"`
	Checksum     *attributesChecksum
	ObjectParts  *attributesParts
	StorageClass string `xml:",omitempty"`
	ObjectSize   *int64
}

type attributesChecksum struct {
	checksumFields
	ChecksumType string
}

type attributesParts struct {
	IsTruncated          bool
	MaxParts             int
	NextPartNumberMarker int
	PartNumberMarker     int
	Part                 []attributesPart
	PartsCount           int
}

type attributesPart struct {
	checksumFields
	PartNumber int
	Size       int64
}

// intHeader reads a non-negative integer header, def when absent.
func intHeader(h http.Header, name string, def int) (int, error) {
	v := h.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		e := errMsg(s3err.InvalidArgument, "Provided %s not an integer or within integer range", name)
		e.Extra = []sigv4.Field{{Name: "ArgumentName", Value: name}, {Name: "ArgumentValue", Value: v}}
		return 0, e
	}
	return n, nil
}

// objectPart is a part of a completed multipart object.
type objectPart struct {
	number int
	size   int64
	sum    string
}

// objectParts lists the parts of o in order (none for a single PUT).
func objectParts(o *object) []objectPart {
	var out []objectPart
	for _, b := range o.Blobs {
		if b.Part == 0 {
			continue
		}
		if len(out) == 0 || out[len(out)-1].number != b.Part {
			out = append(out, objectPart{number: b.Part, sum: b.Sum})
		}
		out[len(out)-1].size += b.Size
	}
	return out
}

func (g *Gateway) getObjectAttributes(r *request) error {
	want, err := parseObjectAttributes(r.header.Values("X-Amz-Object-Attributes"))
	if err != nil {
		return err
	}
	maxParts, err := intHeader(r.header, "X-Amz-Max-Parts", 1000)
	if err != nil {
		return err
	}
	marker, err := intHeader(r.header, "X-Amz-Part-Number-Marker", 0)
	if err != nil {
		return err
	}
	o, err := g.idx.Object(r.ctx, r.bucketName, r.key)
	if errors.Is(err, errNotFound) {
		return errCode(s3err.NoSuchKey)
	}
	if err != nil {
		return errInternal(err)
	}
	res := getObjectAttributesResponse{Xmlns: xmlns}
	if want.ETag {
		res.ETag = o.ETag // unquoted here, unlike HEAD, as S3 does
	}
	ck := o.Headers.Checksum
	if want.Checksum && ck != nil {
		// a composite checksum without its "-N"
		res.Checksum = &attributesChecksum{checksumFields: makeChecksumFields(ck.Algorithm, ck.Value), ChecksumType: ck.Type}
	}
	if want.ObjectParts && o.Parts > 0 {
		op := &attributesParts{PartsCount: o.Parts, PartNumberMarker: marker, MaxParts: min(maxParts, 1000)}
		// S3 lists the parts only of an object with an additional
		// checksum; of others it gives the count.
		if ck != nil {
			for _, p := range objectParts(o) {
				if p.number <= marker {
					continue
				}
				if len(op.Part) == op.MaxParts {
					op.IsTruncated = true
					break
				}
				ap := attributesPart{PartNumber: p.number, Size: p.size}
				ap.checksumFields = makeChecksumFields(ck.Algorithm, p.sum)
				op.Part = append(op.Part, ap)
				op.NextPartNumberMarker = p.number
			}
		}
		res.ObjectParts = op
	}
	if want.StorageClass {
		res.StorageClass = "STANDARD"
	}
	if want.ObjectSize {
		res.ObjectSize = &o.Size
	}
	r.c.Set("Last-Modified", httpTime(o.MTime))
	return r.sendXML(http.StatusOK, res)
}

// readPartNumber is the partNumber of a GET or HEAD: 1 to 10000, and not
// with a Range.
func readPartNumber(r *request) (int, error) {
	v := r.query.Get("partNumber")
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 10000 {
		e := errMsg(s3err.InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
		e.Extra = []sigv4.Field{{Name: "ArgumentName", Value: "partNumber"}, {Name: "ArgumentValue", Value: v}}
		return 0, e
	}
	if r.header.Get("Range") != "" {
		return 0, errMsg(s3err.InvalidRequest, "Cannot specify both Range header and partNumber query parameter")
	}
	return p, nil
}
