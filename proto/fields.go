package proto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// PutString writes s NUL-terminated and zero-padded into dst. A string that
// does not fit with its NUL, or that holds a NUL, is refused, never truncated.
func PutString(dst []byte, s string) error {
	if len(s) >= len(dst) {
		return fmt.Errorf("%w: %d bytes into a %d-byte field", ErrStringTooLong, len(s), len(dst))
	}
	if bytes.IndexByte([]byte(s), 0) >= 0 {
		return ErrStringNUL
	}
	n := copy(dst, s)
	clear(dst[n:])
	return nil
}

// GetString reads a NUL-terminated string from a fixed-width field.
func GetString(src []byte) (string, error) {
	i := bytes.IndexByte(src, 0)
	if i < 0 {
		return "", ErrNotTerminated
	}
	return string(src[:i]), nil
}

func putI64(b []byte, v int64) { binary.BigEndian.PutUint64(b, uint64(v)) }
func getI64(b []byte) int64    { return int64(binary.BigEndian.Uint64(b)) }

// EncodeInt64 is the body of the ID server's and FILESIZE's replies.
func EncodeInt64(v int64) []byte {
	b := make([]byte, 8)
	putI64(b, v)
	return b
}

// DecodeInt64 parses an 8-byte big-endian body.
func DecodeInt64(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: int64 body of %d bytes", ErrBodyLen, len(b))
	}
	return getI64(b), nil
}

// EncodeText is a NUL-terminated text body (GROUPS reply).
func EncodeText(s string) ([]byte, error) {
	if bytes.IndexByte([]byte(s), 0) >= 0 {
		return nil, ErrStringNUL
	}
	if len(s)+1 > MaxTextReply {
		return nil, fmt.Errorf("%w: text of %d bytes", ErrStringTooLong, len(s))
	}
	return append([]byte(s), 0), nil
}

// DecodeText parses a NUL-terminated text body; the NUL must be its last byte.
func DecodeText(b []byte) (string, error) {
	if len(b) == 0 || b[len(b)-1] != 0 {
		return "", ErrNotTerminated
	}
	s := b[:len(b)-1]
	if bytes.IndexByte(s, 0) >= 0 {
		return "", ErrStringNUL
	}
	return string(s), nil
}

// StatField is the value of key in a NODESTAT text ("key value" lines; a
// trailing NUL, as the reply carries it, is ignored), "" when absent.
func StatField(text, key string) string {
	for l := range strings.SplitSeq(strings.TrimRight(text, "\x00"), "\n") {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			return v
		}
	}
	return ""
}

// Names are checked at the servers. The seed's valid() allowed only English
// letters and digits; user and file IDs also take '-', '_', '.' and '@' so that
// e-mail-like user names and UUID-like file IDs work.

// ValidAppID reports whether s is a non-empty alphanumeric app ID that fits.
func ValidAppID(s string) bool { return validChars(s, AppIDSize, "") }

// ValidUserID reports whether s is a usable user ID.
func ValidUserID(s string) bool { return validChars(s, UserIDSize, "-_.@") }

// ValidFileID reports whether s is a usable file ID.
func ValidFileID(s string) bool { return validChars(s, FileIDSize, "-_.") }

// ValidGroupName reports whether s is a usable group name.
func ValidGroupName(s string) bool { return validChars(s, GroupNameSize, "-_") }

// ValidIDKey reports whether s is a usable ID-server key.
func ValidIDKey(s string) bool { return validChars(s, IDKeySize, "-_.:/") }

func validChars(s string, width int, extra string) bool {
	if len(s) == 0 || len(s) >= width {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case bytes.IndexByte([]byte(extra), c) >= 0:
		default:
			return false
		}
	}
	return true
}
