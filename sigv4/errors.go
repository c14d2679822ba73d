package sigv4

import (
	"fmt"

	"github.com/tnv-s3/tnv/s3err"
)

// Error is a refusal the gateway renders as S3 error XML. Code and Status are
// S3's own, so that clients (which branch on the code, e.g. to retry after
// RequestTimeTooSkewed with a corrected clock) behave as they do against AWS.
type Error struct {
	Code    s3err.Code
	Status  int
	Message string
	// Extra holds the additional elements AWS puts in the error document
	// for this code (StringToSign, RequestTime, ...), in document order.
	Extra []Field
}

// Field is one extra element of an S3 error document.
type Field struct{ Name, Value string }

func (e *Error) Error() string { return "sigv4: " + e.Code.String() + ": " + e.Message }

// newErrorf and newError take the code's status from s3err's table: one
// place from code to status for the gateway and sigv4.
func newErrorf(code s3err.Code, format string, args ...any) *Error {
	return newError(code, fmt.Sprintf(format, args...))
}

func newError(code s3err.Code, msg string) *Error {
	return &Error{Code: code, Status: code.Status(), Message: msg}
}

// errDefault is a refusal with S3's default message for code.
func errDefault(code s3err.Code) *Error { return newError(code, code.Message()) }

func (e *Error) with(name, value string) *Error {
	e.Extra = append(e.Extra, Field{name, value})
	return e
}

// Messages S3 uses verbatim; clients and people search for them.
const (
	msgUnsignedHeaders  = "There were headers present in the request which were not signed"
	msgExpired          = "Request has expired"
	msgNotYetValid      = "Request is not valid yet"
	msgNeedDate         = "AWS authentication requires a valid Date or x-amz-date header"
	msgBadContentSHA256 = "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value."
	msgOneAuthMechanism = "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"
)

func errSignatureMismatch() *Error {
	return errDefault(s3err.SignatureDoesNotMatch)
}

func errMalformedChunk(format string, args ...any) *Error {
	return newErrorf(s3err.InvalidRequest, "Malformed aws-chunked body: "+format, args...)
}
