package proto

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestReplicaPlace_WireBytes(t *testing.T) {
	p := &ReplicaPlace{VCtime: 0x0102030405060708, Node: "10.0.0.1:23000", Store: "ab", Path: "00/01/x"}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 224 {
		t.Fatalf("%d bytes, want 224", len(b))
	}
	if v := binary.BigEndian.Uint64(b); v != 0x0102030405060708 {
		t.Errorf("vctime %x", v)
	}
	if got := string(b[8:22]); got != "10.0.0.1:23000" || b[22] != 0 {
		t.Errorf("node field %q", b[8:23])
	}
	if got := string(b[158:160]); got != "ab" || b[160] != 0 {
		t.Errorf("store field at 158: %q", b[158:161])
	}
	if got := string(b[191:198]); got != "00/01/x" || b[198] != 0 {
		t.Errorf("path field at 191: %q", b[191:199])
	}
	q, err := DecodeReplicaPlace(b)
	if err != nil || *q != *p {
		t.Fatalf("decode: %+v, %v", q, err)
	}
}

func TestReplicaPlace_Refused(t *testing.T) {
	good := ReplicaPlace{VCtime: 1, Node: "n:1", Store: "s", Path: "p"}
	for _, c := range []struct {
		name string
		p    ReplicaPlace
		want error
	}{
		{"empty node", ReplicaPlace{Store: "s", Path: "p"}, ErrBadField},
		{"empty path", ReplicaPlace{Node: "n", Store: "s"}, ErrBadField},
		{"store of 33", ReplicaPlace{Node: "n", Store: strings.Repeat("a", 33), Path: "p"}, ErrStringTooLong},
		{"path with NUL", ReplicaPlace{Node: "n", Store: "s", Path: "a\x00b"}, ErrStringNUL},
	} {
		if _, err := c.p.Encode(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	b, _ := good.Encode()
	if _, err := DecodeReplicaPlace(b[:len(b)-1]); !errors.Is(err, ErrBodyLen) {
		t.Errorf("short body: %v", err)
	}
	unterminated := append([]byte(nil), b...)
	for i := 191; i < len(b); i++ {
		unterminated[i] = 'x'
	}
	if _, err := DecodeReplicaPlace(unterminated); !errors.Is(err, ErrNotTerminated) {
		t.Errorf("unterminated path: %v", err)
	}
	empty := append([]byte(nil), b...)
	empty[8] = 0
	if _, err := DecodeReplicaPlace(empty); !errors.Is(err, ErrBadField) {
		t.Errorf("empty node: %v", err)
	}
}

func TestStatField(t *testing.T) {
	text := "node 127.0.0.1:23000\nlocalsocket /run/tnv.sock\nfeatures replicate-linked other\n\x00"
	for key, want := range map[string]string{
		"node": "127.0.0.1:23000", "localsocket": "/run/tnv.sock",
		"features": "replicate-linked other", "local": "", "missing": "",
	} {
		if got := StatField(text, key); got != want {
			t.Errorf("StatField(%q) = %q, want %q", key, got, want)
		}
	}
}
