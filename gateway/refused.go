package gateway

import (
	"net/http"

	"github.com/tnv-s3/tnv/s3err"
)

// unsupportedObjectHeaders are headers of object writes (PutObject,
// CreateMultipartUpload, CopyObject) asking for what the gateway does not
// do: refused with NotImplemented rather than ignored, so that no client
// believes an object is locked when it is not. The one list
// every write checks, through requestHeaders; a feature that comes takes
// its headers out of it.
// None today: server-side encryption and object lock took theirs out.
var unsupportedObjectHeaders = []string{}

// refuseUnsupportedHeaders answers NotImplemented for the first of
// unsupportedObjectHeaders a request has.
func refuseUnsupportedHeaders(h http.Header) error {
	for _, k := range unsupportedObjectHeaders {
		if h.Get(k) != "" {
			return errMsg(s3err.NotImplemented, "%s is not implemented by this gateway.", k)
		}
	}
	return nil
}
