package nsnet

import (
	"net/netip"
	"testing"
)

// ipv4 is a minimal IPv4 header (20 bytes) from src to dst.
func ipv4(src, dst [4]byte) []byte {
	b := make([]byte, 20)
	b[0] = 0x45
	copy(b[12:16], src[:])
	copy(b[16:20], dst[:])
	return b
}

func TestPacketDst(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want string // "" = not routed
	}{
		{"ipv4", ipv4([4]byte{10, 213, 0, 1}, [4]byte{10, 213, 0, 7}), "10.213.0.7"},
		{"with payload", append(ipv4([4]byte{10, 213, 0, 1}, [4]byte{10, 213, 0, 9}), 1, 2, 3), "10.213.0.9"},
		{"short", ipv4([4]byte{}, [4]byte{10, 213, 0, 7})[:19], ""},
		{"empty", nil, ""},
		{"ipv6", append([]byte{0x60}, make([]byte, 39)...), ""},
		{"header length below 20", append([]byte{0x44}, ipv4([4]byte{}, [4]byte{10, 213, 0, 7})[1:]...), ""},
		{"header length beyond the packet", append([]byte{0x4f}, ipv4([4]byte{}, [4]byte{10, 213, 0, 7})[1:]...), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := packetDst(tc.b)
			if tc.want == "" {
				if ok {
					t.Fatalf("routed to %v", got)
				}
				return
			}
			if !ok || got != netip.MustParseAddr(tc.want) {
				t.Fatalf("got %v %v, want %s", got, ok, tc.want)
			}
		})
	}
}

// FuzzPacketDst: any bytes a TUN device could hand over are routed to the
// address in bytes 16..19 of a well-formed IPv4 header, or not at all;
// never a panic.
func FuzzPacketDst(f *testing.F) {
	f.Add(ipv4([4]byte{10, 213, 0, 1}, [4]byte{10, 213, 0, 2}))
	f.Add([]byte{0x60, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dst, ok := packetDst(b)
		if !ok {
			return
		}
		if len(b) < 20 || b[0]>>4 != 4 {
			t.Fatalf("routed a packet that is not IPv4: % x", b)
		}
		if dst != netip.AddrFrom4([4]byte(b[16:20])) {
			t.Fatalf("destination %v, header says %v", dst, b[16:20])
		}
	})
}
