package index

// Checksum is an object's additional checksum, as S3 keeps it: the
// algorithm ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"), the type
// ("FULL_OBJECT" or "COMPOSITE") and the value in base64, without the "-N"
// a composite checksum is shown with.
type Checksum struct {
	Algorithm string `json:"a"`
	Type      string `json:"t"`
	Value     string `json:"v,omitempty"`
}

func (c *Checksum) clone() *Checksum {
	if c == nil {
		return nil
	}
	d := *c
	return &d
}
