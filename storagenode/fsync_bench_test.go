package storagenode

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkFsyncLatency is the disk's price of one flush, one writer at a
// time: "new-4KiB-file" writes a new 4 KiB file and fsyncs it (a copy of a
// small object), "append-4KiB" appends 4 KiB to one file and fsyncs
// it (a database's log commit). docs/performance.md multiplies these by
// the flushes a PUT makes. Run with TMPDIR on the disk that matters.
func BenchmarkFsyncLatency(b *testing.B) {
	data := make([]byte, 4096)
	b.Run("new-4KiB-file", func(b *testing.B) {
		dir := b.TempDir()
		for i := 0; i < b.N; i++ {
			f, err := os.Create(filepath.Join(dir, strconv.Itoa(i)))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("append-4KiB", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "log"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		for i := 0; i < b.N; i++ {
			if _, err := f.Write(data); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
