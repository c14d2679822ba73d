package proto

import (
	"fmt"
	"io"
)

// ReadBody reads exactly h.BodyLen bytes, refusing bodies over max before
// allocating anything.
func ReadBody(r io.Reader, h Header, max int64) ([]byte, error) {
	if h.BodyLen > max {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBodyLen, h.BodyLen, max)
	}
	b := make([]byte, h.BodyLen)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// ReadReply reads a reply frame. A status-0xFD reply comes back as an
// *ErrorReply; a reply with another command than want, or a body over max,
// is a protocol error (the connection is then unusable).
func ReadReply(r io.Reader, want uint8, max int64) (Header, []byte, error) {
	h, err := ReadHeader(r)
	if err != nil {
		return h, nil, err
	}
	if h.Status != StatusOK {
		b, err := ReadBody(r, h, MaxErrorBody)
		if err != nil {
			return h, nil, fmt.Errorf("proto: error reply: %w", err)
		}
		e, err := DecodeError(b)
		if err != nil {
			return h, nil, fmt.Errorf("proto: error reply: %w", err)
		}
		return h, nil, e
	}
	if h.Cmd != want {
		return h, nil, fmt.Errorf("proto: reply command %d, want %d", h.Cmd, want)
	}
	b, err := ReadBody(r, h, max)
	return h, b, err
}

// WriteError writes an error reply for cmd.
func WriteError(w io.Writer, cmd uint8, e *ErrorReply) error {
	return WriteFrame(w, cmd, StatusError, e.Encode())
}
