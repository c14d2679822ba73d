package gateway

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"

	"github.com/tnv-s3/tnv/sigv4"
)

// s3Error is a refusal rendered as S3 error XML.
type s3Error struct {
	Code    string
	Status  int
	Message string
	Extra   []sigv4.Field
	cause   error // logged, never sent
}

func (e *s3Error) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Message + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *s3Error) Unwrap() error { return e.cause }

// errorTable is the one place from S3 error code to HTTP status and
// default message.
var errorTable = map[string]struct {
	status int
	msg    string
}{
	"AccessDenied":                      {403, "Access Denied"},
	"BadDigest":                         {400, "The Content-MD5 you specified did not match what we received."},
	"BucketAlreadyExists":               {409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."},
	"BucketAlreadyOwnedByYou":           {409, "Your previous request to create the named bucket succeeded and you already own it."},
	"BucketNotEmpty":                    {409, "The bucket you tried to delete is not empty"},
	"EntityTooLarge":                    {400, "Your proposed upload exceeds the maximum allowed object size."},
	"EntityTooSmall":                    {400, "Your proposed upload is smaller than the minimum allowed object size."},
	"IncompleteBody":                    {400, "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	"InternalError":                     {500, "We encountered an internal error. Please try again."},
	"InvalidAccessKeyId":                {403, "The AWS Access Key Id you provided does not exist in our records."},
	"InvalidArgument":                   {400, "Invalid Argument"},
	"InvalidBucketName":                 {400, "The specified bucket is not valid."},
	"InvalidDigest":                     {400, "The Content-MD5 you specified was invalid."},
	"InvalidPart":                       {400, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."},
	"InvalidPartOrder":                  {400, "The list of parts was not in ascending order. The parts list must be specified in order by part number."},
	"InvalidRange":                      {416, "The requested range is not satisfiable"},
	"InvalidRequest":                    {400, "Invalid Request"},
	"KeyTooLongError":                   {400, "Your key is too long"},
	"MalformedXML":                      {400, "The XML you provided was not well-formed or did not validate against our published schema."},
	"MethodNotAllowed":                  {405, "The specified method is not allowed against this resource."},
	"MissingContentLength":              {411, "You must provide the Content-Length HTTP header."},
	"MissingRequestBodyError":           {400, "Request Body is empty"},
	"NoSuchBucket":                      {404, "The specified bucket does not exist"},
	"NoSuchCORSConfiguration":           {404, "The CORS configuration does not exist"},
	"NoSuchKey":                         {404, "The specified key does not exist."},
	"NoSuchUpload":                      {404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."},
	"NotImplemented":                    {501, "A header you provided implies functionality that is not implemented"},
	"PreconditionFailed":                {412, "At least one of the pre-conditions you specified did not hold"},
	"NotModified":                       {304, "Not Modified"},
	"ServiceUnavailable":                {503, "Please reduce your request rate."},
	"SignatureDoesNotMatch":             {403, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	"TooManyBuckets":                    {400, "You have attempted to create more buckets than allowed"},
	"XAmzContentSHA256Mismatch":         {400, "The provided 'x-amz-content-sha256' header does not match what was computed."},
	"AuthorizationHeaderMalformed":      {400, "The authorization header is malformed."},
	"AuthorizationQueryParametersError": {400, "Error parsing the X-Amz-Credential parameter."},
	"RequestTimeTooSkewed":              {403, "The difference between the request time and the current time is too large."},
	"ConditionalRequestConflict":        {409, "The conditional request cannot succeed due to a conflicting operation against this resource."},
	"InvalidObjectState":                {403, "The operation is not valid for the object's storage class"},
	"BadRequest":                        {400, "Bad Request"},
	"AccessForbidden":                   {403, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."},
	"InvalidStorageClass":               {400, "The storage class you specified is not valid"},
	"UnexpectedContent":                 {400, "This request does not support content"},
	"InvalidURI":                        {400, "Couldn't parse the specified URI."},
	"MetadataTooLarge":                  {400, "Your metadata headers exceed the maximum allowed metadata size."},
	"InvalidPartNumber":                 {416, "The requested partnumber is not satisfiable"},
	"InvalidLocationConstraint":         {400, "The specified location constraint is not valid."},
	"NoSuchLifecycleConfiguration":      {404, "The lifecycle configuration does not exist"},
	"UserKeyMustBeSpecified":            {400, "The bucket POST must contain the specified field name. If it is specified, please check the order of the fields."},
	"RequestTimeout":                    {400, "Your socket connection to the server was not read from or written to within the timeout period."},
}

// errCode returns a refusal with the table's status and message.
func errCode(code string) *s3Error {
	t, ok := errorTable[code]
	if !ok {
		t.status, t.msg = http.StatusInternalServerError, code
	}
	return &s3Error{Code: code, Status: t.status, Message: t.msg}
}

// errMsg returns a refusal with a message of its own.
func errMsg(code, format string, args ...any) *s3Error {
	e := errCode(code)
	e.Message = fmt.Sprintf(format, args...)
	return e
}

// errInternal hides cause from the client and keeps it for the log. A
// deadline that ran out (the database did not answer in time) is 503
// ServiceUnavailable: the client may retry.
func errInternal(cause error) *s3Error {
	code := "InternalError"
	if errors.Is(cause, context.DeadlineExceeded) {
		code = "ServiceUnavailable"
	}
	e := errCode(code)
	e.cause = cause
	return e
}

// toS3Error turns any error into what the client is told.
func toS3Error(err error) *s3Error {
	var se *s3Error
	if errors.As(err, &se) {
		return se
	}
	var ve *sigv4.Error
	if errors.As(err, &ve) {
		code := ve.Code
		return &s3Error{Code: code, Status: ve.Status, Message: ve.Message, Extra: ve.Extra, cause: err}
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
