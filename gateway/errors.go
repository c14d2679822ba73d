package gateway

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"

	"github.com/tnv-s3/tnv/s3err"
	"github.com/tnv-s3/tnv/sigv4"
)

// s3Error is a refusal rendered as S3 error XML.
type s3Error struct {
	Code    s3err.Code
	Status  int
	Message string
	Extra   []sigv4.Field
	cause   error // logged, never sent
}

func (e *s3Error) Error() string {
	if e.cause != nil {
		return e.Code.String() + ": " + e.Message + ": " + e.cause.Error()
	}
	return e.Code.String() + ": " + e.Message
}

func (e *s3Error) Unwrap() error { return e.cause }

// errCode returns a refusal with the code's status and default message
// (s3err's table).
func errCode(code s3err.Code) *s3Error {
	return &s3Error{Code: code, Status: code.Status(), Message: code.Message()}
}

// errMsg returns a refusal with a message of its own.
func errMsg(code s3err.Code, format string, args ...any) *s3Error {
	e := errCode(code)
	e.Message = fmt.Sprintf(format, args...)
	return e
}

// errInternal hides cause from the client and keeps it for the log. A
// deadline that ran out (the database did not answer in time) and a server
// that cannot be reached (the database's driver dialing into a partition
// reports "dial tcp …: i/o timeout", not the context's deadline) are 503
// ServiceUnavailable: the client may retry.
func errInternal(cause error) *s3Error {
	code := s3err.InternalError
	if errors.Is(cause, context.DeadlineExceeded) || unreachable(cause) {
		code = s3err.ServiceUnavailable
	}
	e := errCode(code)
	e.cause = cause
	return e
}

// unreachable reports whether err is a network timeout or a connection
// that could not be made: a server out of reach, not a fault of the
// request.
func unreachable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// toS3Error turns any error into what the client is told.
func toS3Error(err error) *s3Error {
	var se *s3Error
	if errors.As(err, &se) {
		return se
	}
	if e := fromIndex(err); e != nil {
		return e
	}
	var ve *sigv4.Error
	if errors.As(err, &ve) {
		return &s3Error{Code: ve.Code, Status: ve.Status, Message: ve.Message, Extra: ve.Extra, cause: err}
	}
	return errInternal(err)
}

// errorDoc is S3's error document.
type errorDoc struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string `xml:",omitempty"`
	RequestID string `xml:"RequestId"`
	HostID    string `xml:"HostId"`
	Extra     []extraField
}

type extraField struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// entityTooSmall refuses a completion whose part p (not the last) is below
// the minimum part size, with the details S3 adds to the error document.
func entityTooSmall(p *part, minSize int64) *s3Error {
	e := errCode(s3err.EntityTooSmall)
	e.Extra = []sigv4.Field{
		{Name: "ProposedSize", Value: fmt.Sprint(p.Size)},
		{Name: "MinSizeAllowed", Value: fmt.Sprint(minSize)},
		{Name: "PartNumber", Value: fmt.Sprint(p.Number)},
		{Name: "ETag", Value: p.ETag},
	}
	return e
}
