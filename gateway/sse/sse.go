// Package sse is the gateway's server-side encryption: envelope keys and the
// package format of an encrypted blob.
//
// Every encrypted object has its own random 256-bit data key. The key is
// kept in the index only sealed (AES-256-GCM) by a key encryption key: the
// gateway's master key for SSE-S3, a key derived from the customer's key
// for SSE-C. Each blob of the object is encrypted with a key derived from
// the data key and the blob's TNV name (unique per blob), in packages of
// PackageSize plaintext bytes, each sealed with AES-256-GCM on its own: a
// package's nonce is its index in the blob and a flag marking the blob's
// last package, so packages cannot be reordered, dropped or cut off at the
// end unnoticed, and a range read decrypts only the packages it touches.
//
// Stored blob layout: package 0 ciphertext ‖ tag, package 1 … ‖ tag; each
// package holds PackageSize plaintext bytes but the last, which holds the
// rest (1 … PackageSize). Nothing else is stored on the storage node.
package sse

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// PackageSize is how many plaintext bytes one sealed package holds.
const PackageSize = 64 << 10

// TagSize is what sealing adds to each package.
const TagSize = 16

// KeySize is the size of data keys, master keys and customer keys.
const KeySize = 32

// sealedPackage is the stored size of a full package.
const sealedPackage = PackageSize + TagSize

// ErrAuth is a package or a sealed key that does not open: the stored bytes
// were altered, or the key is not the one they were sealed with.
var ErrAuth = errors.New("sse: message authentication failed")

// SealedSize is the stored size of a blob of n plaintext bytes.
func SealedSize(n int64) int64 {
	return n + packages(n)*TagSize
}

// packages is how many packages a blob of n plaintext bytes has.
func packages(n int64) int64 { return (n + PackageSize - 1) / PackageSize }

// NewDataKey draws a random data key.
func NewDataKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k)
	return k
}

// BlobKey derives the key of one blob from the object's data key and the
// blob's TNV name, so that no two blobs share a key (and so a nonce).
func BlobKey(dataKey []byte, userid, fileid string) []byte {
	k, err := hkdf.Key(sha256.New, dataKey, nil, "tnv-sse-blob-v1\x00"+userid+"\x00"+fileid, KeySize)
	if err != nil {
		panic(err) // only for lengths hkdf cannot produce
	}
	return k
}

func newAEAD(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(fmt.Sprintf("sse: key of %d bytes", len(key)))
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return a
}

// nonce is package i's nonce: its index and whether it is the last.
func nonce(dst *[12]byte, i int64, last bool) []byte {
	binary.BigEndian.PutUint64(dst[:8], uint64(i))
	binary.BigEndian.PutUint32(dst[8:], 0)
	if last {
		dst[11] = 1
	}
	return dst[:]
}

// Encrypter turns exactly size plaintext bytes of src into the stored form,
// SealedSize(size) bytes. A src that ends early is io.ErrUnexpectedEOF (or
// src's own error); one that goes on is not read past size.
type Encrypter struct {
	src   io.Reader
	aead  cipher.AEAD
	size  int64 // plaintext bytes not yet read
	i     int64 // next package
	last  int64 // index of the last package
	buf   []byte
	out   []byte // sealed bytes not yet handed on
	err   error
	nonce [12]byte
}

// NewEncrypter encrypts a blob of size plaintext bytes with key.
func NewEncrypter(src io.Reader, key []byte, size int64) *Encrypter {
	return &Encrypter{src: src, aead: newAEAD(key), size: size, last: packages(size) - 1,
		buf: make([]byte, 0, sealedPackage)}
}

func (e *Encrypter) Read(p []byte) (int, error) {
	for len(e.out) == 0 {
		if e.err != nil {
			return 0, e.err
		}
		if e.size == 0 {
			e.err = io.EOF
			return 0, io.EOF
		}
		n := min(e.size, PackageSize)
		plain := e.buf[:n]
		if _, err := io.ReadFull(e.src, plain); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			e.err = err
			return 0, err
		}
		e.size -= n
		e.out = e.aead.Seal(plain[:0], nonce(&e.nonce, e.i, e.i == e.last), plain, nil)
		e.i++
	}
	n := copy(p, e.out)
	e.out = e.out[n:]
	return n, nil
}

// Span is what must be read of a stored blob to decrypt plaintext bytes
// [off, off+n): Offset and Size in the stored form.
type Span struct {
	Offset, Size int64
	first        int64 // index of the first package read
	skip         int64 // plaintext bytes of the first package before off
}

// SpanOf maps plaintext bytes [off, off+n) of a blob of blobSize plaintext
// bytes (n > 0, off+n <= blobSize) onto the packages holding them.
func SpanOf(blobSize, off, n int64) Span {
	first := off / PackageSize
	lastPkg := (off + n - 1) / PackageSize
	end := min((lastPkg+1)*sealedPackage, SealedSize(blobSize))
	return Span{Offset: first * sealedPackage, Size: end - first*sealedPackage, first: first, skip: off - first*PackageSize}
}

// Decrypter hands on n plaintext bytes from the stored bytes of a Span.
type Decrypter struct {
	src   io.Reader
	aead  cipher.AEAD
	i     int64 // next package
	last  int64 // index of the blob's last package
	left  int64 // sealed bytes of the span not yet read
	skip  int64
	n     int64 // plaintext bytes still to hand on
	buf   []byte
	out   []byte
	err   error
	nonce [12]byte
}

// NewDecrypter decrypts n plaintext bytes from off of a blob of blobSize
// plaintext bytes; src yields the stored bytes of SpanOf(blobSize, off, n).
func NewDecrypter(src io.Reader, key []byte, blobSize, off, n int64) *Decrypter {
	s := SpanOf(blobSize, off, n)
	return &Decrypter{src: src, aead: newAEAD(key), i: s.first, last: packages(blobSize) - 1,
		left: s.Size, skip: s.skip, n: n, buf: make([]byte, sealedPackage)}
}

func (d *Decrypter) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.n == 0 {
			d.err = io.EOF
			return 0, io.EOF
		}
		m := min(d.left, sealedPackage)
		if m <= TagSize {
			d.err = fmt.Errorf("sse: stored blob ends inside package %d", d.i)
			return 0, d.err
		}
		sealed := d.buf[:m]
		if _, err := io.ReadFull(d.src, sealed); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			d.err = err
			return 0, err
		}
		d.left -= m
		plain, err := d.aead.Open(sealed[:0], nonce(&d.nonce, d.i, d.i == d.last), sealed, nil)
		if err != nil {
			d.err = fmt.Errorf("sse: package %d: %w", d.i, ErrAuth)
			return 0, d.err
		}
		d.i++
		plain = plain[min(d.skip, int64(len(plain))):]
		d.skip = 0
		if int64(len(plain)) > d.n {
			plain = plain[:d.n]
		}
		d.out = plain
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	d.n -= int64(n)
	return n, nil
}

// Seal seals a data key with a key encryption key; aad names what the
// sealing is for, so that a key sealed for one use does not open for
// another. The result is nonce ‖ ciphertext ‖ tag.
func Seal(kek, dataKey []byte, aad string) []byte {
	a := newAEAD(kek)
	n := make([]byte, a.NonceSize())
	rand.Read(n)
	return a.Seal(n, n, dataKey, []byte(aad))
}

// Open opens what Seal sealed; a wrong key or altered bytes is ErrAuth.
func Open(kek, sealed []byte, aad string) ([]byte, error) {
	a := newAEAD(kek)
	if len(sealed) < a.NonceSize()+a.Overhead() {
		return nil, ErrAuth
	}
	k, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], []byte(aad))
	if err != nil || len(k) != KeySize {
		return nil, ErrAuth
	}
	return k, nil
}

// CustomerKEK derives the key that seals an SSE-C object's data key from
// the customer's key and the object's salt.
func CustomerKEK(customerKey, salt []byte) []byte {
	return mac(customerKey, "tnv-sse-c-kek-v1", salt)
}

// CustomerKeyID is the salted HMAC by which the index recognises a
// customer key without holding it: it cannot be turned back into the key.
func CustomerKeyID(customerKey, salt []byte) []byte {
	return mac(customerKey, "tnv-sse-c-id-v1", salt)
}

// SameCustomerKey compares a key's ID with a stored one in constant time.
func SameCustomerKey(customerKey, salt, id []byte) bool {
	return hmac.Equal(CustomerKeyID(customerKey, salt), id)
}

// MasterKeyID names a master key (a prefix of a hash of it), so that an
// object sealed under another key fails with a clear message.
func MasterKeyID(master []byte) string {
	h := mac(master, "tnv-sse-master-id-v1", nil)
	return fmt.Sprintf("%x", h[:8])
}

// ETag is what an SSE-C object reports for the MD5 of its plaintext: AWS's
// ETags of such objects are not that MD5, and it must not leak.
func ETag(dataKey, md5 []byte) []byte {
	return mac(dataKey, "tnv-sse-etag-v1", md5)[:16]
}

// NewSalt draws a salt for CustomerKEK and CustomerKeyID.
func NewSalt() []byte {
	s := make([]byte, 16)
	rand.Read(s)
	return s
}

func mac(key []byte, label string, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}
