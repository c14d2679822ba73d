package proto

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestHeader_RoundTripAndByteLayout(t *testing.T) {
	h := Header{BodyLen: 0x0102030405060708, Cmd: CmdStorageUpload, Status: StatusError}
	b := h.Bytes()
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 70, 0xFD}
	if !bytes.Equal(b, want) {
		t.Fatalf("header bytes = % x, want % x", b, want)
	}
	got, err := DecodeHeader(b)
	if err != nil || got != h {
		t.Fatalf("DecodeHeader = %+v, %v", got, err)
	}
}

func TestDecodeHeader_NegativeBodyLenRefused(t *testing.T) {
	b := Header{BodyLen: -1, Cmd: 70}.Bytes()
	if _, err := DecodeHeader(b); !errors.Is(err, ErrBodyLen) {
		t.Fatalf("err = %v, want ErrBodyLen", err)
	}
}

func TestCheckRequest_BoundsPerCommand(t *testing.T) {
	cases := []struct {
		name string
		h    Header
		ok   bool
	}{
		{"join exact", Header{BodyLen: 171, Cmd: CmdTrackerJoin}, true},
		{"join short", Header{BodyLen: 170, Cmd: CmdTrackerJoin}, false},
		{"beat seed", Header{BodyLen: 146, Cmd: CmdTrackerBeat}, true},
		{"beat extended", Header{BodyLen: 174, Cmd: CmdTrackerBeat}, true},
		{"beat with health", Header{BodyLen: 175, Cmd: CmdTrackerBeat}, true},
		{"beat too long", Header{BodyLen: 176, Cmd: CmdTrackerBeat}, false},
		{"saddrs", Header{BodyLen: 400, Cmd: CmdTrackerSaddrs}, true},
		{"groups empty", Header{BodyLen: 0, Cmd: CmdTrackerGroups}, true},
		{"groups with body", Header{BodyLen: 1, Cmd: CmdTrackerGroups}, false},
		{"id key", Header{BodyLen: 65, Cmd: CmdIDGet}, true},
		{"id key too long", Header{BodyLen: 66, Cmd: CmdIDGet}, false},
		{"upload empty file", Header{BodyLen: 408, Cmd: CmdStorageUpload}, true},
		{"upload 2^62", Header{BodyLen: 1 << 62, Cmd: CmdStorageUpload}, false},
		{"download", Header{BodyLen: 416, Cmd: CmdStorageDownload}, true},
		{"download 2^62", Header{BodyLen: 1 << 62, Cmd: CmdStorageDownload}, false},
		{"unknown", Header{BodyLen: 0, Cmd: 99}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := CheckRequest(c.h); (err == nil) != c.ok {
				t.Fatalf("CheckRequest(%+v) = %v, want ok=%v", c.h, err, c.ok)
			}
		})
	}
	if err := CheckRequest(Header{Cmd: 99}); !errors.Is(err, ErrUnknownCmd) {
		t.Fatalf("unknown command error = %v", err)
	}
}

func TestPutString_RefusesOverlongAndNUL(t *testing.T) {
	f := make([]byte, AppIDSize)
	if err := PutString(f, strings.Repeat("a", AppIDSize-1)); err != nil {
		t.Fatalf("15 chars into 16: %v", err)
	}
	if err := PutString(f, strings.Repeat("a", AppIDSize)); !errors.Is(err, ErrStringTooLong) {
		t.Fatalf("16 chars into 16: %v, want ErrStringTooLong", err)
	}
	if err := PutString(f, "a\x00b"); !errors.Is(err, ErrStringNUL) {
		t.Fatalf("NUL: %v", err)
	}
	PutString(f, "xyz")
	if !bytes.Equal(f, append([]byte("xyz"), make([]byte, 13)...)) {
		t.Fatalf("padding: % x", f)
	}
	if _, err := GetString(bytes.Repeat([]byte{'a'}, 16)); !errors.Is(err, ErrNotTerminated) {
		t.Fatalf("unterminated: %v", err)
	}
}

func TestJoin_ByteLayout(t *testing.T) {
	j := &Join{Version: "1.0", Group: "group1", Host: "127.0.0.1", Port: 23000, STime: 1, JTime: 2}
	b, err := j.Encode()
	if err != nil || len(b) != 171 {
		t.Fatalf("Encode: %d bytes, %v", len(b), err)
	}
	if string(b[0:3]) != "1.0" || b[3] != 0 || string(b[7:13]) != "group1" || string(b[24:33]) != "127.0.0.1" {
		t.Fatalf("field offsets wrong: % x", b[:40])
	}
	if b[153] != 0x59 || b[154] != 0xD8 || b[162] != 1 || b[170] != 2 {
		t.Fatalf("port/time bytes wrong: % x", b[153:])
	}
	got, err := DecodeJoin(b)
	if err != nil || *got != *j {
		t.Fatalf("DecodeJoin = %+v, %v", got, err)
	}
	if _, err := (&Join{Group: strings.Repeat("g", 17)}).Encode(); err == nil {
		t.Fatal("17-char group name: want error")
	}
}

func TestBeat_SeedAndExtended(t *testing.T) {
	seed := &Beat{Group: "g1", Host: "h"}
	b, _ := seed.Encode()
	if len(b) != 146 {
		t.Fatalf("seed beat %d bytes", len(b))
	}
	ext := &Beat{Group: "g1", Host: "h", Extended: true, Port: 23001, Total: 100, Free: 50, SyncState: SyncSyncing, SyncPct: 42, Lag: 7}
	b, _ = ext.Encode()
	if len(b) != BeatHealthBodyLen {
		t.Fatalf("extended beat %d bytes", len(b))
	}
	got, err := DecodeBeat(b)
	if err != nil || *got != *ext {
		t.Fatalf("DecodeBeat = %+v, %v", got, err)
	}
	// The 174-byte form (no health byte) means a writable node.
	if got, err := DecodeBeat(b[:BeatExtBodyLen]); err != nil || *got != *ext {
		t.Fatalf("DecodeBeat(174) = %+v, %v", got, err)
	}
	ro := *ext
	ro.Health = HealthReadOnly
	b, _ = ro.Encode()
	if b[174] != 1 {
		t.Fatalf("health byte %d", b[174])
	}
	if got, err := DecodeBeat(b); err != nil || got.Health != HealthReadOnly || HealthName(got.Health) != "READONLY" {
		t.Fatalf("DecodeBeat(read-only) = %+v, %v", got, err)
	}
	b[174] = HealthSick + 1
	if _, err := DecodeBeat(b); err == nil {
		t.Fatal("health 4: want error")
	}
	b[174] = 0
	b[BeatBodyLen+19] = 101
	if _, err := DecodeBeat(b); err == nil {
		t.Fatal("sync pct 101: want error")
	}
}

func TestFileBodies_RoundTrip(t *testing.T) {
	ref := FileRef{AppID: "app1", UserID: "user@example.com", FileID: "f-123"}
	b, err := ref.Encode()
	if err != nil || len(b) != 400 || string(b[16:32]) != "user@example.com" || b[272] != 'f' {
		t.Fatalf("FileRef layout: %v", err)
	}
	if got, err := DecodeFileRef(b); err != nil || *got != ref {
		t.Fatalf("DecodeFileRef = %+v, %v", got, err)
	}
	u := &UploadHead{FileRef: ref, Size: 5}
	b, _ = u.Encode()
	if got, err := DecodeUploadHead(b, 413); err != nil || *got != *u {
		t.Fatalf("DecodeUploadHead = %+v, %v", got, err)
	}
	if _, err := DecodeUploadHead(b, 414); !errors.Is(err, ErrBodyLen) {
		t.Fatalf("size/bodylen mismatch: %v", err)
	}
	d := &Download{FileRef: ref, Offset: 3, Size: 4}
	b, _ = d.Encode()
	if got, err := DecodeDownload(b); err != nil || *got != *d {
		t.Fatalf("DecodeDownload = %+v, %v", got, err)
	}
	if _, err := (&FileRef{AppID: strings.Repeat("a", 16)}).Encode(); !errors.Is(err, ErrStringTooLong) {
		t.Fatalf("over-long appid: %v", err)
	}
}

func TestSaddrs_Layout(t *testing.T) {
	s := &Saddrs{Group: "group1", Addrs: []string{"127.0.0.1:23000", "127.0.0.1:23001"}}
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if want := "127.0.0.1:23000;127.0.0.1:23001;\x00"; string(b[17:]) != want {
		t.Fatalf("addresses = %q", b[17:])
	}
	got, err := DecodeSaddrs(b)
	if err != nil || got.Group != "group1" || len(got.Addrs) != 2 || got.Addrs[1] != "127.0.0.1:23001" {
		t.Fatalf("DecodeSaddrs = %+v, %v", got, err)
	}
	// A node that cannot take uploads comes last, marked.
	s.Unwritable = []string{"127.0.0.1:23002"}
	b, _ = s.Encode()
	if want := "127.0.0.1:23000;127.0.0.1:23001;127.0.0.1:23002!;\x00"; string(b[17:]) != want {
		t.Fatalf("addresses = %q", b[17:])
	}
	got, err = DecodeSaddrs(b)
	if err != nil || len(got.Addrs) != 2 || len(got.Unwritable) != 1 || got.Unwritable[0] != "127.0.0.1:23002" || len(got.All()) != 3 {
		t.Fatalf("DecodeSaddrs = %+v, %v", got, err)
	}
	if _, err := (&Saddrs{Group: "g", Addrs: []string{"1.2.3.4:5!"}}).Encode(); err == nil {
		t.Fatal("address with the mark: want error")
	}
}

func TestIDKeyAndErrorBodies(t *testing.T) {
	b, _ := EncodeIDKey("disk1")
	if string(b) != "disk1\x00" {
		t.Fatalf("key body %q", b)
	}
	if _, err := EncodeIDKey(strings.Repeat("k", 65)); err == nil {
		t.Fatal("65-char key: want error")
	}
	if _, err := DecodeIDKey([]byte("ab\x00c\x00")); err == nil {
		t.Fatal("inner NUL: want error")
	}
	e := &ErrorReply{Errno: ENOENT, Desc: "no such file"}
	b = e.Encode()
	if !bytes.Equal(b[:2], []byte{0, 2}) || string(b[2:]) != "no such file\x00" {
		t.Fatalf("error body % x", b)
	}
	long := (&ErrorReply{Errno: EIO, Desc: strings.Repeat("é", 1000)}).Encode()
	if len(long) > MaxErrorBody {
		t.Fatalf("error body %d bytes, over %d", len(long), MaxErrorBody)
	}
	if got, err := DecodeError(long); err != nil || got.Errno != EIO {
		t.Fatalf("DecodeError = %+v, %v", got, err)
	}
}

func TestReadReply_ErrorAndWrongCommand(t *testing.T) {
	var buf bytes.Buffer
	WriteError(&buf, CmdStorageReply, Errorf(ENOENT, "gone"))
	_, _, err := ReadReply(&buf, CmdStorageReply, 8)
	var er *ErrorReply
	if !errors.As(err, &er) || er.Errno != ENOENT || er.Desc != "gone" {
		t.Fatalf("err = %v", err)
	}
	buf.Reset()
	WriteFrame(&buf, CmdIDReply, StatusOK, EncodeInt64(9))
	if _, _, err := ReadReply(&buf, CmdStorageReply, 8); err == nil {
		t.Fatal("wrong reply command: want error")
	}
	buf.Reset()
	buf.Write(Header{BodyLen: 1 << 62, Cmd: CmdTrackerReply}.Bytes())
	if _, _, err := ReadReply(&buf, CmdTrackerReply, MaxTextReply); !errors.Is(err, ErrBodyLen) {
		t.Fatalf("huge reply: %v", err)
	}
}

func TestValidNames(t *testing.T) {
	cases := []struct {
		f    func(string) bool
		s    string
		want bool
	}{
		{ValidAppID, "app1", true},
		{ValidAppID, "app-1", false},
		{ValidAppID, "", false},
		{ValidAppID, strings.Repeat("a", 16), false},
		{ValidUserID, "bob@example.com", true},
		{ValidUserID, "../etc", false},
		{ValidFileID, "Zx_9-1.bin", true},
		{ValidFileID, "a/b", false},
		{ValidGroupName, "group_1", true},
		{ValidGroupName, "g 1", false},
	}
	for _, c := range cases {
		if got := c.f(c.s); got != c.want {
			t.Errorf("valid(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}

// The MACs of the handshake: fixed vectors (so a change of the wire format
// shows), role labels that differ, and both nonces bound.
func TestAuthMAC(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	nc, ns := AuthNonce{1}, AuthNonce{2}
	c, s := ClientMAC(secret, nc, ns), ServerMAC(secret, nc, ns)
	if c.Equal(s) {
		t.Fatal("client and server MAC equal")
	}
	if c.Equal(ClientMAC(secret, ns, nc)) || c.Equal(ClientMAC(secret, nc, AuthNonce{3})) {
		t.Fatal("client MAC does not bind both nonces in order")
	}
	if got := fmt.Sprintf("%x", c[:4]); got != authVectorClient {
		t.Fatalf("client MAC starts %s, want %s", got, authVectorClient)
	}
	if got := fmt.Sprintf("%x", s[:4]); got != authVectorServer {
		t.Fatalf("server MAC starts %s, want %s", got, authVectorServer)
	}
	if err := CheckAuthHeader(Header{BodyLen: 33, Cmd: CmdStorageUpload}, CmdAuthHello); !errors.Is(err, ErrAuthFrame) {
		t.Fatalf("UPLOAD as hello: %v", err)
	}
	if err := CheckAuthHeader(Header{BodyLen: 34, Cmd: CmdAuthHello}, CmdAuthHello); !errors.Is(err, ErrBodyLen) {
		t.Fatalf("34-byte hello: %v", err)
	}
	if _, err := DecodeAuthNonce(append([]byte{2}, make([]byte, 32)...)); !errors.Is(err, ErrAuthVersion) {
		t.Fatalf("version 2: %v", err)
	}
}

// Computed outside Go (Python's hmac) from the layout in docs/protocol.md.
const (
	authVectorClient = "802c2269"
	authVectorServer = "aedae478"
)
