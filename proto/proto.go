// Package proto is the TNV wire format: a fixed 10-byte header, fixed-width
// NUL-terminated string fields and big-endian integers, as laid down in the
// seed's proto.h. It does no I/O policy beyond reading and writing frames.
package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Header: |bodylen int64 BE|cmd u8|status u8|.
const (
	BodyLenSize = 8
	CommandSize = 1
	StatusSize  = 1
	HeaderLen   = BodyLenSize + CommandSize + StatusSize
)

// Field widths, each including the terminating NUL (seed types.h/proto.h).
const (
	VersionSize   = 7   // STORAGE_VERSION_MAX + 1
	GroupNameSize = 17  // STORAGE_GROUPNAME_MAX + 1
	HostNameSize  = 129 // STORAGE_HOSTNAME_MAX + 1
	AppIDSize     = 16
	UserIDSize    = 256
	FileIDSize    = 128
	IDKeySize     = 65 // ID_KEY_MAX + 1
	ErrorNumSize  = 2
	ErrorDescSize = 1024 // including the NUL
)

// Commands.
const (
	CmdTrackerJoin   uint8 = 10
	CmdTrackerBeat   uint8 = 11
	CmdTrackerSaddrs uint8 = 12
	CmdTrackerGroups uint8 = 13

	CmdIDGet uint8 = 40

	CmdStorageUpload   uint8 = 70
	CmdStorageFilesize uint8 = 71
	CmdStorageDownload uint8 = 72
	CmdStorageDelete   uint8 = 73

	CmdTrackerReply uint8 = 100
	CmdIDReply      uint8 = 101
	CmdStorageReply uint8 = 102
)

// Status values. The seed's STATUS_ERROR is -3, i.e. 0xFD on the wire.
const (
	StatusOK    uint8 = 0
	StatusError uint8 = 0xFD
)

// Fixed body sizes of the seed's requests.
const (
	JoinBodyLen     = VersionSize + GroupNameSize + HostNameSize + 2 + 8 + 8 // 171
	BeatBodyLen     = GroupNameSize + HostNameSize                           // 146
	FileRefLen      = AppIDSize + UserIDSize + FileIDSize                    // 400
	UploadHeadLen   = FileRefLen + 8                                         // 408, then the bytes
	DownloadBodyLen = FileRefLen + 8 + 8                                     // 416
)

// Limits on variable-size bodies, so that no reader allocates what a peer claims.
const (
	MaxErrorBody   = ErrorNumSize + ErrorDescSize
	MaxTextReply   = 1 << 20 // GROUPS text and SADDRS address lists
	MaxUploadBytes = 1 << 40 // 1 TiB per file; streamed, never allocated
)

// Sentinel errors callers branch on.
var (
	ErrStringTooLong = errors.New("proto: string too long for field")
	ErrStringNUL     = errors.New("proto: string contains NUL")
	ErrNotTerminated = errors.New("proto: field not NUL-terminated")
	ErrBodyLen       = errors.New("proto: body length not allowed for command")
	ErrUnknownCmd    = errors.New("proto: unknown command")
	ErrBadField      = errors.New("proto: field value out of range")
)

// Header is the 10-byte frame header.
type Header struct {
	BodyLen int64
	Cmd     uint8
	Status  uint8
}

// Encode writes h into b, which must hold HeaderLen bytes.
func (h Header) Encode(b []byte) {
	binary.BigEndian.PutUint64(b[:8], uint64(h.BodyLen))
	b[8] = h.Cmd
	b[9] = h.Status
}

// Bytes returns h encoded.
func (h Header) Bytes() []byte {
	b := make([]byte, HeaderLen)
	h.Encode(b)
	return b
}

// DecodeHeader parses a header. A negative body length is refused.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("proto: short header: %d bytes", len(b))
	}
	h := Header{
		BodyLen: int64(binary.BigEndian.Uint64(b[:8])),
		Cmd:     b[8],
		Status:  b[9],
	}
	if h.BodyLen < 0 {
		return h, fmt.Errorf("%w: negative body length %d", ErrBodyLen, h.BodyLen)
	}
	return h, nil
}

// ReadHeader reads and decodes one header.
func ReadHeader(r io.Reader) (Header, error) {
	var b [HeaderLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Header{}, err
	}
	return DecodeHeader(b[:])
}

// WriteFrame writes a header for cmd/status and body in one write.
func WriteFrame(w io.Writer, cmd, status uint8, body []byte) error {
	buf := make([]byte, HeaderLen+len(body))
	Header{BodyLen: int64(len(body)), Cmd: cmd, Status: status}.Encode(buf)
	copy(buf[HeaderLen:], body)
	_, err := w.Write(buf)
	return err
}

// RequestBodyLimits says, for a request command, the smallest and largest
// body it may carry. Servers check a header against it before reading or
// allocating anything. For UPLOAD the bound covers the streamed file bytes.
func RequestBodyLimits(cmd uint8) (min, max int64, err error) {
	switch cmd {
	case CmdTrackerJoin:
		return JoinBodyLen, JoinBodyLen, nil
	case CmdTrackerBeat:
		return BeatBodyLen, BeatHealthBodyLen, nil
	case CmdTrackerSaddrs, CmdStorageFilesize, CmdStorageDelete:
		return FileRefLen, FileRefLen, nil
	case CmdTrackerGroups:
		return 0, 0, nil
	case CmdIDGet:
		return 1, IDKeySize, nil
	case CmdStorageUpload:
		return UploadHeadLen, UploadHeadLen + MaxUploadBytes, nil
	case CmdStorageDownload:
		return DownloadBodyLen, DownloadBodyLen, nil
	}
	if min, max, ok := extensionLimits(cmd); ok {
		return min, max, nil
	}
	return 0, 0, fmt.Errorf("%w %d", ErrUnknownCmd, cmd)
}

// CheckRequest validates a request header against its command's limits.
func CheckRequest(h Header) error {
	min, max, err := RequestBodyLimits(h.Cmd)
	if err != nil {
		return err
	}
	if h.BodyLen < min || h.BodyLen > max {
		return fmt.Errorf("%w: cmd %d body %d not in [%d, %d]", ErrBodyLen, h.Cmd, h.BodyLen, min, max)
	}
	return nil
}
