package storagenode

import (
	"bytes"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// A temp file written in large aligned chunks and an unaligned tail (how
// handleUpload writes) holds exactly the bytes, whether or not the file
// system took O_DIRECT.
func TestTempFile_DirectWritesThenTail_SameBytesAndCRC(t *testing.T) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i, size := range []int{100, bufSize, 3*bufSize + 4097, 2 * bufSize} {
		rel := "000/000/000/00" + string(rune('1'+i))
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{byte(size)}).Read(data)
		tmp, err := st.createTemp()
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, bufSize) // as s.getBuf: a large, page-aligned allocation
		for off := 0; off < size; {
			n := copy(buf, data[off:])
			if _, err := tmp.Write(buf[:n]); err != nil {
				t.Fatalf("size %d: write at %d: %v (direct %v)", size, off, err, tmp.direct)
			}
			off += n
		}
		t.Logf("size %d: O_DIRECT at the end: %v", size, tmp.direct)
		if _, err := tmp.commit(rel); err != nil {
			t.Fatal(err)
		}
		abs, _ := st.abs(rel)
		got, err := os.ReadFile(abs)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("size %d: file differs (%v)", size, err)
		}
		if tmp.crc != crc32.Checksum(data, castagnoli) || tmp.n != int64(size) {
			t.Fatalf("size %d: crc or length wrong", size)
		}
	}
}

func TestDirectOK_AlignmentAndLength(t *testing.T) {
	buf := make([]byte, 2*bufSize)
	if directOK(buf[1 : directAlign+1]) {
		t.Error("unaligned address accepted")
	}
	if directOK(buf[:directAlign+1]) && directAlign > 1 {
		t.Error("unaligned length accepted")
	}
	if directOK(nil) {
		t.Error("empty accepted")
	}
}

// BenchmarkTempCommit measures making a small received file durable at its
// path: "commit" as handleUpload does (link, then fsync file and directory),
// against "sync-link-sync", the file's fsync before the link, as reference.
// Run with TMPDIR on the disk that matters.
func BenchmarkTempCommit(b *testing.B) {
	data := make([]byte, 4096)
	for _, mode := range []string{"commit", "sync-link-sync"} {
		b.Run(mode, func(b *testing.B) {
			st, err := openStore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				rel, _ := relPath(int64(i + 1))
				tmp, err := st.createTemp()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tmp.Write(data); err != nil {
					b.Fatal(err)
				}
				if mode == "commit" {
					if _, err := tmp.commit(rel); err != nil {
						b.Fatal(err)
					}
					continue
				}
				dst, _ := st.abs(rel)
				if err := tmp.f.Sync(); err != nil {
					b.Fatal(err)
				}
				if err := mkdirAllSync(st.dir, filepath.Dir(dst)); err != nil {
					b.Fatal(err)
				}
				if err := os.Link(tmp.name, dst); err != nil {
					b.Fatal(err)
				}
				os.Remove(tmp.name)
				if err := syncDir(filepath.Dir(dst)); err != nil {
					b.Fatal(err)
				}
				tmp.f.Close()
			}
		})
	}
}
