package storagenode

import (
	"bytes"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
)

// A temp file written in large aligned chunks and an unaligned tail (how
// handleUpload writes) holds exactly the bytes, whether or not the file
// system took O_DIRECT, unnamed (O_TMPFILE) or named; an aborted one
// leaves nothing; a path taken is refused, never replaced.
func TestTempFile_DirectWritesThenTail_SameBytesAndCRC(t *testing.T) {
	for _, unnamed := range []bool{true, false} {
		t.Run(map[bool]string{true: "unnamed", false: "named"}[unnamed], func(t *testing.T) {
			testTempFile(t, unnamed)
		})
	}
}

func testTempFile(t *testing.T, unnamed bool) {
	st, err := openStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if unnamed && !st.unnamed {
		if runtime.GOOS == "linux" {
			t.Fatalf("O_TMPFILE not usable in %s", st.dir)
		}
		t.Skip("no O_TMPFILE here")
	}
	st.unnamed = unnamed
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
		if fi, err := os.Stat(abs); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("size %d: mode %v (%v), want 0600 as before", size, fi.Mode(), err)
		}
		got, err := os.ReadFile(abs)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("size %d: file differs (%v)", size, err)
		}
		if tmp.crc != crc32.Checksum(data, castagnoli) || tmp.n != int64(size) {
			t.Fatalf("size %d: crc or length wrong", size)
		}
	}
	// A taken path: refused, the file there untouched.
	tmp, err := st.createTemp()
	if err != nil {
		t.Fatal(err)
	}
	tmp.Write([]byte("other"))
	if _, err := tmp.commit("000/000/000/001"); !errors.Is(err, os.ErrExist) {
		t.Fatalf("commit onto a taken path: %v", err)
	}
	tmp.abort()
	if got, _ := os.ReadFile(filepath.Join(st.dir, "000/000/000/001")); len(got) != 100 {
		t.Fatalf("taken path changed: %d bytes", len(got))
	}
	// An aborted one leaves nothing.
	tmp, err = st.createTemp()
	if err != nil {
		t.Fatal(err)
	}
	tmp.Write([]byte("gone"))
	tmp.abort()
	if es, _ := os.ReadDir(filepath.Join(st.dir, tmpDir)); len(es) != 0 {
		t.Fatalf("temp directory after abort: %v", es)
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

// BenchmarkTempCommit measures receiving a small file and making it durable
// at its path, 16 at a time: "now" as handleUpload does (an unnamed temp
// file where the file system allows, linked, then fsynced with its
// directory, unless linkRidesFsync; "now-with-dir-fsync" always fsyncs it)
// against "named-sync-link-sync", the earlier way (a named temp
// file, fsynced, linked, unlinked, directory fsynced), as reference. Run
// with TMPDIR on the disk that matters.
func BenchmarkTempCommit(b *testing.B) {
	data := make([]byte, 4096)
	for _, mode := range []string{"now", "now-with-dir-fsync", "named-sync-link-sync"} {
		b.Run(mode, func(b *testing.B) {
			st, err := openStore(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("unnamed temp files: %v, directory fsync skipped: %v", st.unnamed, st.linkSynced)
			if mode == "now-with-dir-fsync" {
				st.linkSynced = false
			}
			var next atomic.Int64
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rel, _ := relPath(next.Add(1))
					if mode != "named-sync-link-sync" {
						tmp, err := st.createTemp()
						if err != nil {
							b.Fatal(err)
						}
						if _, err := tmp.Write(data); err != nil {
							b.Fatal(err)
						}
						if _, err := tmp.commit(rel); err != nil {
							b.Fatal(err)
						}
						continue
					}
					f, err := os.CreateTemp(filepath.Join(st.dir, tmpDir), "up-*")
					if err != nil {
						b.Fatal(err)
					}
					f.Write(data)
					dst, _ := st.abs(rel)
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
					if err := mkdirAllSync(st.dir, filepath.Dir(dst)); err != nil {
						b.Fatal(err)
					}
					if err := os.Link(f.Name(), dst); err != nil {
						b.Fatal(err)
					}
					os.Remove(f.Name())
					if err := syncDir(filepath.Dir(dst)); err != nil {
						b.Fatal(err)
					}
					f.Close()
				}
			})
		})
	}
}
