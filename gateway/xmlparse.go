package gateway

import (
	"bytes"
	"encoding/xml"
	"strings"

	"github.com/tnv-s3/tnv/s3err"
)

// The XML request bodies the gateway parses. Each parser takes the whole
// (size-limited) body and answers MalformedXML for anything that is not
// the document S3 expects; they are fuzzed.

func decodeStrict(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errMsg(s3err.MalformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return errCode(s3err.MalformedXML)
	}
	return nil
}

// parseDelete parses a DeleteObjects body: 1..1000 keys.
func parseDelete(b []byte) (*deleteRequest, error) {
	var req deleteRequest
	if err := decodeStrict(b, &req); err != nil {
		return nil, err
	}
	if len(req.Object) == 0 || len(req.Object) > maxDeleteKeys {
		return nil, errCode(s3err.MalformedXML)
	}
	for _, o := range req.Object {
		if o.Key == "" {
			return nil, errMsg(s3err.UserKeyMustBeSpecified, "The key must be specified.")
		}
		if len(o.Key) > 1024 {
			return nil, errCode(s3err.KeyTooLongError)
		}
	}
	return &req, nil
}

// parseComplete parses a CompleteMultipartUpload body: 1..10000 parts in
// strictly ascending order.
func parseComplete(b []byte) (*completeMultipartUpload, error) {
	var req completeMultipartUpload
	if err := decodeStrict(b, &req); err != nil {
		return nil, err
	}
	if len(req.Part) == 0 {
		return nil, errMsg(s3err.MalformedXML, "You must specify at least one part.")
	}
	if len(req.Part) > 10000 {
		return nil, errCode(s3err.MalformedXML)
	}
	prev := 0
	for _, p := range req.Part {
		if p.PartNumber < 1 || p.PartNumber > 10000 {
			return nil, errMsg(s3err.InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
		}
		if p.PartNumber <= prev {
			return nil, errCode(s3err.InvalidPartOrder)
		}
		prev = p.PartNumber
	}
	return &req, nil
}

// corsConfiguration is a bucket's CORS rules.
type corsConfiguration struct {
	XMLName  xml.Name   `xml:"CORSConfiguration"`
	Xmlns    string     `xml:"xmlns,attr,omitempty"`
	CORSRule []corsRule `xml:"CORSRule"`
}

type corsRule struct {
	ID            string   `xml:"ID,omitempty"`
	AllowedOrigin []string `xml:"AllowedOrigin"`
	AllowedMethod []string `xml:"AllowedMethod"`
	AllowedHeader []string `xml:"AllowedHeader,omitempty"`
	ExposeHeader  []string `xml:"ExposeHeader,omitempty"`
	MaxAgeSeconds *int     `xml:"MaxAgeSeconds,omitempty"`
}

// parseCORS parses and validates a PutBucketCors body: 1..100 rules, each
// with origins and methods among GET, PUT, POST, DELETE, HEAD, at most one
// '*' per origin or header pattern.
func parseCORS(b []byte) (*corsConfiguration, error) {
	var c corsConfiguration
	if err := decodeStrict(b, &c); err != nil {
		return nil, err
	}
	if len(c.CORSRule) == 0 || len(c.CORSRule) > 100 {
		return nil, errCode(s3err.MalformedXML)
	}
	for _, r := range c.CORSRule {
		if len(r.AllowedOrigin) == 0 || len(r.AllowedMethod) == 0 {
			return nil, errCode(s3err.MalformedXML)
		}
		for _, m := range r.AllowedMethod {
			switch m {
			case "GET", "PUT", "POST", "DELETE", "HEAD":
			default:
				return nil, errMsg(s3err.InvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is %s", m)
			}
		}
		for _, o := range r.AllowedOrigin {
			if strings.Count(o, "*") > 1 {
				return nil, errMsg(s3err.InvalidRequest, "AllowedOrigin %q can not have more than one wildcard.", o)
			}
		}
		for _, h := range r.AllowedHeader {
			if strings.Count(h, "*") > 1 {
				return nil, errMsg(s3err.InvalidRequest, "AllowedHeader %q can not have more than one wildcard.", h)
			}
		}
		if r.MaxAgeSeconds != nil && *r.MaxAgeSeconds < 0 {
			return nil, errCode(s3err.MalformedXML)
		}
	}
	return &c, nil
}
