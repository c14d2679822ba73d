package proto

// CmdStorageHold (80, extension) holds a file against deletion, for the
// S3 gateway's object lock (docs/protocol.md, "HOLD"): body fileref[400]
// until i64 BE (408 bytes), reply 102 with an empty body. until > 0 holds
// the file until that Unix time (replacing an earlier hold, shorter or
// longer), HoldForever until released, HoldRelease (0) releases it. A
// DELETE (73) of a held file is refused with EPERM; the hold is the
// group's (every member refuses).
const CmdStorageHold uint8 = 80

// HoldLen is the body of a HOLD.
const HoldLen = FileRefLen + 8 // 408

// Special values of Hold.Until.
const (
	HoldRelease int64 = 0
	HoldForever int64 = -1
)

// Hold is the body of HOLD.
type Hold struct {
	FileRef
	Until int64
}

// Encode returns the 408-byte body.
func (h *Hold) Encode() ([]byte, error) {
	if h.Until < HoldForever {
		return nil, Errorf(EINVAL, "hold until %d", h.Until)
	}
	b, err := h.refBody(HoldLen)
	if err != nil {
		return nil, err
	}
	putI64(b[FileRefLen:], h.Until)
	return b, nil
}

// DecodeHold parses a HOLD body.
func DecodeHold(b []byte) (*Hold, error) {
	f, err := getRefBody(b, HoldLen, "HOLD body")
	if err != nil {
		return nil, err
	}
	h := &Hold{FileRef: f, Until: getI64(b[FileRefLen:])}
	if h.Until < HoldForever {
		return nil, Errorf(EINVAL, "HOLD body: until %d", h.Until)
	}
	return h, nil
}
