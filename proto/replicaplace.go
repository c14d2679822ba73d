package proto

import "fmt"

// CmdStorageReplicateLinked (83, extension) is REPLICATE (74) whose member
// records no row of its own: it writes the copy, fsyncs and links it, and
// answers where it put it (ReplicaPlace). The coordinator inserts the
// member's row, readable, in the transaction that appends the put to the
// group log, so the member's commit of a pending row leaves the upload's
// path (docs/replication.md, "Pending, then readable"). Body as
// REPLICATE's. A member that knows it says so in its NODESTAT
// ("features replicate-linked"); to others the coordinator sends REPLICATE.
const CmdStorageReplicateLinked uint8 = 83

// Field widths of ReplicaPlace: the node as OriginSize, the store key and
// the path within the store as the storage tables' columns (32 bytes),
// each with its NUL.
const (
	placeStoreLen   = 33
	placePathLen    = 33
	ReplicaPlaceLen = 8 + OriginSize + placeStoreLen + placePathLen // 224
)

// ReplicaPlace is the reply to REPLICATE_LINKED: where the member put its
// copy, for the row the coordinator inserts on its behalf. VCtime is the
// copy's ctime (nanoseconds) that the member's scrub compares with the
// file's.
type ReplicaPlace struct {
	VCtime int64
	Node   string // the member's name in the storage tables
	Store  string // the store's key
	Path   string // within the store
}

// Encode returns the 224-byte reply body.
func (p *ReplicaPlace) Encode() ([]byte, error) {
	b := make([]byte, ReplicaPlaceLen)
	putI64(b, p.VCtime)
	fields := []struct {
		name string
		dst  []byte
		v    string
	}{
		{"node", b[8 : 8+OriginSize], p.Node},
		{"store", b[8+OriginSize : 8+OriginSize+placeStoreLen], p.Store},
		{"path", b[8+OriginSize+placeStoreLen:], p.Path},
	}
	for _, f := range fields {
		if f.v == "" {
			return nil, fmt.Errorf("%w: empty %s", ErrBadField, f.name)
		}
		if err := PutString(f.dst, f.v); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return b, nil
}

// DecodeReplicaPlace parses a REPLICATE_LINKED reply body.
func DecodeReplicaPlace(b []byte) (*ReplicaPlace, error) {
	if len(b) != ReplicaPlaceLen {
		return nil, fmt.Errorf("%w: REPLICATE_LINKED reply of %d bytes", ErrBodyLen, len(b))
	}
	p := &ReplicaPlace{VCtime: getI64(b)}
	var err error
	if p.Node, err = GetString(b[8 : 8+OriginSize]); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if p.Store, err = GetString(b[8+OriginSize : 8+OriginSize+placeStoreLen]); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if p.Path, err = GetString(b[8+OriginSize+placeStoreLen:]); err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if p.Node == "" || p.Store == "" || p.Path == "" {
		return nil, fmt.Errorf("%w: empty field in a REPLICATE_LINKED reply", ErrBadField)
	}
	return p, nil
}
