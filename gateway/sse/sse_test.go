package sse

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func seal(t testing.TB, key, plain []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(NewEncrypter(bytes.NewReader(plain), key, int64(len(plain))))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(out)) != SealedSize(int64(len(plain))) {
		t.Fatalf("sealed %d bytes into %d, SealedSize says %d", len(plain), len(out), SealedSize(int64(len(plain))))
	}
	return out
}

func openRange(key, stored []byte, size, off, n int64) ([]byte, error) {
	s := SpanOf(size, off, n)
	return io.ReadAll(NewDecrypter(bytes.NewReader(stored[s.Offset:s.Offset+s.Size]), key, size, off, n))
}

func TestRoundTrip_EverySizeAroundPackageEdges(t *testing.T) {
	key := NewDataKey()
	for _, size := range []int64{1, 2, PackageSize - 1, PackageSize, PackageSize + 1, 3*PackageSize - 7, 3 * PackageSize, 5*PackageSize + 1} {
		plain := make([]byte, size)
		rand.Read(plain)
		stored := seal(t, key, plain)
		if bytes.Contains(stored, plain[:min(size, 64)]) && size >= 16 {
			t.Fatalf("size %d: plaintext visible in the stored bytes", size)
		}
		got, err := openRange(key, stored, size, 0, size)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: whole read: err %v, equal %v", size, err, bytes.Equal(got, plain))
		}
	}
}

func TestRange_ReadsOnlyThePackagesItTouches(t *testing.T) {
	key := NewDataKey()
	size := int64(10*PackageSize + 123)
	plain := make([]byte, size)
	rand.Read(plain)
	stored := seal(t, key, plain)
	rng := mrand.New(mrand.NewPCG(1, 2))
	for range 300 {
		off := rng.Int64N(size)
		n := 1 + rng.Int64N(size-off)
		s := SpanOf(size, off, n)
		pkgs := (off+n-1)/PackageSize - off/PackageSize + 1
		if s.Size > pkgs*(PackageSize+TagSize) {
			t.Fatalf("[%d,+%d): span of %d bytes for %d packages", off, n, s.Size, pkgs)
		}
		got, err := openRange(key, stored, size, off, n)
		if err != nil || !bytes.Equal(got, plain[off:off+n]) {
			t.Fatalf("[%d,+%d): err %v", off, n, err)
		}
	}
	// A 256 KiB seek into the middle reads 5 packages at most.
	if s := SpanOf(size, 3*PackageSize+5, 256<<10); s.Size != 5*(PackageSize+TagSize) {
		t.Fatalf("256 KiB seek reads %d stored bytes", s.Size)
	}
}

func TestTampering_IsAnError(t *testing.T) {
	key := NewDataKey()
	size := int64(3*PackageSize + 10)
	plain := make([]byte, size)
	rand.Read(plain)
	stored := seal(t, key, plain)

	flipped := bytes.Clone(stored)
	flipped[PackageSize+TagSize+7] ^= 1
	if _, err := openRange(key, flipped, size, 0, size); !errors.Is(err, ErrAuth) {
		t.Fatalf("flipped byte: %v", err)
	}
	swapped := bytes.Clone(stored)
	p := PackageSize + TagSize
	copy(swapped[0:p], stored[p:2*p])
	copy(swapped[p:2*p], stored[0:p])
	if _, err := openRange(key, swapped, size, 0, size); !errors.Is(err, ErrAuth) {
		t.Fatalf("swapped packages: %v", err)
	}
	// A blob cut after its third package: the third was not sealed as the
	// last, so reading it as the last fails.
	cut := stored[:3*p]
	if _, err := openRange(key, cut, 3*PackageSize, 0, 3*PackageSize); !errors.Is(err, ErrAuth) {
		t.Fatalf("truncated blob: %v", err)
	}
	if _, err := openRange(NewDataKey(), stored, size, 0, size); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong key: %v", err)
	}
	short := bytes.NewReader(stored[:len(stored)-1])
	if _, err := io.ReadAll(NewDecrypter(short, key, size, 0, size)); err == nil {
		t.Fatal("short stored blob read without error")
	}
}

func TestEncrypter_ShortSourceFails(t *testing.T) {
	_, err := io.ReadAll(NewEncrypter(bytes.NewReader(make([]byte, 100)), NewDataKey(), 200))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short source: %v", err)
	}
}

func TestBlobKeys_DifferPerBlob(t *testing.T) {
	dk := NewDataKey()
	if bytes.Equal(BlobKey(dk, "u1", "f1"), BlobKey(dk, "u1", "f2")) || bytes.Equal(BlobKey(dk, "u1", "f1"), BlobKey(dk, "u2", "f1")) {
		t.Fatal("two blobs share a key")
	}
	if !bytes.Equal(BlobKey(dk, "u1", "f1"), BlobKey(dk, "u1", "f1")) {
		t.Fatal("BlobKey is not deterministic")
	}
}

func TestSealOpen(t *testing.T) {
	kek, dk := NewDataKey(), NewDataKey()
	s := Seal(kek, dk, "sse-s3")
	if got, err := Open(kek, s, "sse-s3"); err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("open: %v", err)
	}
	if _, err := Open(kek, s, "sse-c"); !errors.Is(err, ErrAuth) {
		t.Fatalf("other purpose opened: %v", err)
	}
	if _, err := Open(NewDataKey(), s, "sse-s3"); !errors.Is(err, ErrAuth) {
		t.Fatalf("other key opened: %v", err)
	}
	if _, err := Open(kek, s[:5], "sse-s3"); !errors.Is(err, ErrAuth) {
		t.Fatalf("short sealed key: %v", err)
	}
}

func TestCustomerKeyID(t *testing.T) {
	ck, salt := NewDataKey(), NewSalt()
	id := CustomerKeyID(ck, salt)
	if !SameCustomerKey(ck, salt, id) || SameCustomerKey(NewDataKey(), salt, id) || SameCustomerKey(ck, NewSalt(), id) {
		t.Fatal("SameCustomerKey")
	}
	if bytes.Contains(id, ck) {
		t.Fatal("the ID holds the key")
	}
}

func TestMasterKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kms.key")
	k1, err := EnsureMasterKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	k2, err := EnsureMasterKeyFile(p)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second Ensure: %v", err)
	}
	os.Chmod(p, 0o644)
	if _, err := LoadMasterKey(p); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
	os.Chmod(p, 0o600)
	os.WriteFile(p, []byte("abcd\n"), 0o600)
	if _, err := LoadMasterKey(p); err == nil {
		t.Fatal("a short key was accepted")
	}
}

// FuzzDecrypter: whatever a storage node hands back, decryption fails
// cleanly or yields exactly what was sealed; it never panics.
func FuzzDecrypter(f *testing.F) {
	key := bytes.Repeat([]byte{7}, KeySize)
	good, _ := io.ReadAll(NewEncrypter(bytes.NewReader(bytes.Repeat([]byte("x"), 100)), key, 100))
	f.Add(good, int64(100), int64(0), int64(100))
	f.Add(good[:50], int64(100), int64(10), int64(20))
	f.Add([]byte{}, int64(PackageSize+1), int64(PackageSize), int64(1))
	f.Fuzz(func(t *testing.T, stored []byte, size, off, n int64) {
		if size <= 0 || size > 4*PackageSize || off < 0 || n <= 0 || off+n > size || off+n < off {
			return
		}
		got, err := io.ReadAll(NewDecrypter(bytes.NewReader(stored), key, size, off, n))
		if err == nil && int64(len(got)) != n {
			t.Fatalf("read %d bytes without error, want %d", len(got), n)
		}
		if err == nil && !bytes.Equal(got, bytes.Repeat([]byte("x"), int(n))) {
			t.Fatal("forged bytes decrypted")
		}
	})
}

func BenchmarkEncrypt64MiB(b *testing.B) {
	key := NewDataKey()
	src := make([]byte, 64<<20)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		io.Copy(io.Discard, NewEncrypter(bytes.NewReader(src), key, int64(len(src))))
	}
}

func BenchmarkDecrypt64MiB(b *testing.B) {
	key := NewDataKey()
	src := make([]byte, 64<<20)
	stored := seal(b, key, src)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		io.Copy(io.Discard, NewDecrypter(bytes.NewReader(stored), key, int64(len(src)), 0, int64(len(src))))
	}
}
