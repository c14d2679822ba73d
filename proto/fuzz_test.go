package proto

import (
	"bytes"
	"testing"
)

// Each decoder must refuse or accept any input without panicking, and what
// it accepts must encode back to the same bytes (modulo padding after NULs).

func FuzzDecodeHeader(f *testing.F) {
	f.Add(Header{BodyLen: 408, Cmd: CmdStorageUpload}.Bytes())
	f.Add(Header{BodyLen: 1 << 62, Cmd: CmdStorageDownload}.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			return
		}
		if CheckRequest(h) == nil && h.BodyLen > UploadHeadLen+MaxUploadBytes {
			t.Fatalf("accepted body length %d", h.BodyLen)
		}
		if !bytes.Equal(h.Bytes(), b[:HeaderLen]) {
			t.Fatalf("re-encode differs")
		}
	})
}

func FuzzDecodeJoin(f *testing.F) {
	b, _ := (&Join{Version: "1.0", Group: "g", Host: "h", Port: 1}).Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := DecodeJoin(b)
		if err != nil {
			return
		}
		if _, err := j.Encode(); err != nil {
			t.Fatalf("decoded JOIN does not encode: %v", err)
		}
	})
}

func FuzzDecodeBeat(f *testing.F) {
	b, _ := (&Beat{Group: "g", Host: "h"}).Encode()
	f.Add(b)
	b, _ = (&Beat{Group: "g", Host: "h", Extended: true, Port: 2, Free: 3}).Encode()
	f.Add(b)
	f.Add(b[:BeatExtBodyLen]) // without the health byte
	b, _ = (&Beat{Group: "g", Host: "h", Extended: true, Port: 2, Health: HealthReadOnly}).Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeBeat(b)
		if err != nil {
			return
		}
		out, err := m.Encode()
		want := len(b)
		if want == BeatExtBodyLen {
			want = BeatHealthBodyLen // re-encoded with health OK
		}
		if err != nil || len(out) != want || m.Health > HealthSick {
			t.Fatalf("decoded BEAT re-encodes to %d bytes, %v", len(out), err)
		}
	})
}

func FuzzDecodeFileBodies(f *testing.F) {
	ref := FileRef{AppID: "a", UserID: "u", FileID: "f"}
	b, _ := ref.Encode()
	f.Add(b)
	b, _ = (&Download{FileRef: ref, Offset: 1, Size: 2}).Encode()
	f.Add(b)
	b, _ = (&UploadHead{FileRef: ref, Size: 0}).Encode()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := DecodeFileRef(b); err == nil {
			if _, err := r.Encode(); err != nil {
				t.Fatal(err)
			}
		}
		if d, err := DecodeDownload(b); err == nil && (d.Offset < 0 || d.Size < 0) {
			t.Fatalf("negative download accepted: %+v", d)
		}
		if len(b) >= UploadHeadLen {
			if u, err := DecodeUploadHead(b[:UploadHeadLen], int64(len(b))); err == nil && UploadHeadLen+u.Size != int64(len(b)) {
				t.Fatalf("size %d disagrees with body %d", u.Size, len(b))
			}
		}
	})
}

func FuzzDecodeReplies(f *testing.F) {
	b, _ := (&Saddrs{Group: "g", Addrs: []string{"1.2.3.4:5"}}).Encode()
	f.Add(b)
	b, _ = (&Saddrs{Group: "g", Addrs: []string{"1.2.3.4:5"}, Unwritable: []string{"1.2.3.4:6"}}).Encode()
	f.Add(b)
	f.Add((&ErrorReply{Errno: 2, Desc: "x"}).Encode())
	f.Add([]byte("key\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := DecodeSaddrs(b); err == nil {
			out, err := s.Encode()
			if err != nil {
				t.Fatalf("decoded SADDRS does not encode: %v", err)
			}
			again, err := DecodeSaddrs(out)
			if err != nil || len(again.Addrs) != len(s.Addrs) || len(again.Unwritable) != len(s.Unwritable) {
				t.Fatalf("SADDRS round trip: %+v -> %+v, %v", s, again, err)
			}
		}
		if e, err := DecodeError(b); err == nil && len(e.Encode()) > MaxErrorBody {
			t.Fatal("error body over limit")
		}
		if k, err := DecodeIDKey(b); err == nil && len(k) >= IDKeySize {
			t.Fatalf("key of %d accepted", len(k))
		}
		DecodeText(b)
		DecodeInt64(b)
	})
}

func FuzzReadReply(f *testing.F) {
	var buf bytes.Buffer
	WriteFrame(&buf, CmdStorageReply, StatusOK, EncodeInt64(5))
	f.Add(buf.Bytes())
	buf.Reset()
	WriteError(&buf, CmdStorageReply, Errorf(ENOENT, "nope"))
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		_, body, err := ReadReply(bytes.NewReader(b), CmdStorageReply, 64)
		if err == nil && len(body) > 64 {
			t.Fatalf("body of %d over max", len(body))
		}
	})
}

func FuzzDecodeAuth(f *testing.F) {
	f.Add(append(Header{BodyLen: AuthHelloLen, Cmd: CmdAuthHello}.Bytes(), EncodeAuthNonce(AuthNonce{1, 2, 3})...))
	f.Add(append(Header{BodyLen: AuthProofLen, Cmd: CmdAuthProof}.Bytes(), make([]byte, AuthProofLen)...))
	f.Add(Header{BodyLen: 0, Cmd: CmdStorageUpload}.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			return
		}
		body := b[HeaderLen:]
		for _, cmd := range []uint8{CmdAuthHello, CmdAuthChallenge} {
			if CheckAuthHeader(h, cmd) != nil || int64(len(body)) != h.BodyLen {
				continue
			}
			n, err := DecodeAuthNonce(body)
			if err != nil {
				continue
			}
			if !bytes.Equal(EncodeAuthNonce(n), body) {
				t.Fatalf("nonce body does not re-encode")
			}
		}
		for _, cmd := range []uint8{CmdAuthProof, CmdAuthOK} {
			if CheckAuthHeader(h, cmd) != nil || int64(len(body)) != h.BodyLen {
				continue
			}
			m, err := DecodeAuthMAC(body)
			if err != nil || !bytes.Equal(m[:], body) {
				t.Fatalf("MAC body %x: %v", body, err)
			}
		}
	})
}

// FuzzDecodeHold: a HOLD body decodes only at its length, with a time of
// -1 or more, and encodes back to itself.
func FuzzDecodeHold(f *testing.F) {
	for _, until := range []int64{HoldForever, HoldRelease, 1_800_000_000} {
		b, _ := (&Hold{FileRef: FileRef{AppID: "a", UserID: "u", FileID: "f"}, Until: until}).Encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHold(b)
		if err != nil {
			return
		}
		if len(b) != HoldLen || h.Until < HoldForever {
			t.Fatalf("accepted %d bytes, until %d", len(b), h.Until)
		}
		out, err := h.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if again, err := DecodeHold(out); err != nil || *again != *h {
			t.Fatalf("round trip: %+v %v, want %+v", again, err, h)
		}
	})
}

// FuzzDecodeIDBlock: an ID_GET_BLOCK body decodes only with a want in
// [1, IDBlockMax] and a NUL-terminated key, and encodes back to itself; an
// ID range reply only at its length, with positive IDs that do not wrap
// and at most want of them.
func FuzzDecodeIDBlock(f *testing.F) {
	for _, w := range []int{1, 32, IDBlockMax} {
		b, _ := EncodeIDBlock("store-1", w)
		f.Add(b, 32)
	}
	f.Add(EncodeIDRange(1, 32), 32)
	f.Add(EncodeIDRange(1<<62, 1<<62), 1000)
	f.Fuzz(func(t *testing.T, b []byte, want int) {
		if key, w, err := DecodeIDBlock(b); err == nil {
			if w < 1 || w > IDBlockMax || len(b) != 2+len(key)+1 {
				t.Fatalf("accepted want %d, key %q from %d bytes", w, key, len(b))
			}
			out, err := EncodeIDBlock(key, w)
			if err != nil || string(out) != string(b) {
				t.Fatalf("round trip % x, %v; want % x", out, err, b)
			}
		}
		if want < 1 || want > IDBlockMax {
			return
		}
		first, n, err := DecodeIDRange(b, want)
		if err != nil {
			return
		}
		if len(b) != IDBlockReplyLen || first < 1 || n < 1 || n > int64(want) || first+n-1 < first {
			t.Fatalf("accepted range %d+%d (want %d) from %d bytes", first, n, want, len(b))
		}
		if out := EncodeIDRange(first, n); string(out) != string(b) {
			t.Fatalf("round trip % x, want % x", out, b)
		}
	})
}

// FuzzDecodeReplicaPlace: a REPLICATE_LINKED reply decodes only at its
// length with every field NUL-terminated and non-empty, and encodes back
// to a body that decodes to the same place.
func FuzzDecodeReplicaPlace(f *testing.F) {
	b, _ := (&ReplicaPlace{VCtime: 1764720000123456789, Node: "127.0.0.1:23000", Store: "0123456789abcdef0123456789abcdef", Path: "00/01/0000000000000042"}).Encode()
	f.Add(b)
	f.Add(b[:ReplicaPlaceLen-1])
	f.Add(make([]byte, ReplicaPlaceLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeReplicaPlace(b)
		if err != nil {
			return
		}
		if len(b) != ReplicaPlaceLen || p.Node == "" || p.Store == "" || p.Path == "" {
			t.Fatalf("accepted %+v from %d bytes", p, len(b))
		}
		out, err := p.Encode()
		if err != nil {
			t.Fatalf("re-encode %+v: %v", p, err)
		}
		q, err := DecodeReplicaPlace(out)
		if err != nil || *q != *p {
			t.Fatalf("round trip %+v -> %+v, %v", p, q, err)
		}
	})
}

// FuzzDecodeStagedToken: an UPLOAD_STAGED reply decodes only at its
// length and never to token 0, and encodes back to the same bytes.
func FuzzDecodeStagedToken(f *testing.F) {
	f.Add(EncodeStagedToken(1))
	f.Add(EncodeStagedToken(1<<63 + 5))
	f.Add(make([]byte, StagedTokenLen))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := DecodeStagedToken(b)
		if err != nil {
			return
		}
		if len(b) != StagedTokenLen || tok == 0 {
			t.Fatalf("accepted token %d from %d bytes", tok, len(b))
		}
		if out := EncodeStagedToken(tok); string(out) != string(b) {
			t.Fatalf("round trip %x -> %x", b, out)
		}
	})
}
