package storagenode

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// On disk, a store path holds:
//
//	.tnv-store        the store's key: 32 hex digits, random, written at first use
//	.tmp/             files being received: unnamed (O_TMPFILE) where the
//	                  file system allows, else named, and emptied at start
//	XXX/XXX/XXX/XXX   the files, named by their ID in base 512 (below)
//
// The ID of a file comes from the ID server under the key "storage:<store key>",
// so IDs are counted per store and a path is never given out twice. An ID
// 0 <= id < 512^4 is written with four base-512 digits, most significant first,
// each as three upper-case hex digits (000..1FF): three directory levels of at
// most 512 entries each, then the file name. Directories are created as needed.

const (
	storeKeyFile = ".tnv-store"
	tmpDir       = ".tmp"
	maxFileID    = 512 * 512 * 512 * 512
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// store is one store path.
type store struct {
	dir string
	key string // 32 hex digits
	// unnamed: temp files are O_TMPFILE (openStore tried it here).
	unnamed bool
	// linkSynced: a file's fsync makes its new name durable here
	// (linkRidesFsync), so commit skips the directory's fsync.
	linkSynced bool

	mu       sync.Mutex
	reserved int64      // bytes promised to uploads in flight
	state    storeState // write health as last probed (health.go)
}

// idKey is the ID-server key of the store.
func (s *store) idKey() string { return "storage:" + s.key }

// openStore makes dir usable: creates it and its key file if needed and
// empties its temp directory.
func openStore(dir string) (*store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("store %s: %w", abs, err)
	}
	key, err := storeKey(abs)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", abs, err)
	}
	tmp := filepath.Join(abs, tmpDir)
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("store %s: clearing %s: %w", abs, tmpDir, err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("store %s: %w", abs, err)
	}
	return &store{dir: abs, key: key, unnamed: tmpfileWorks(tmp), linkSynced: linkRidesFsync(abs)}, nil
}

// tmpfileWorks reports whether unnamed temp files can be made and linked
// in dir (not on every file system, and the link needs /proc).
func tmpfileWorks(dir string) bool {
	f, err := openTmpfile(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	probe := filepath.Join(dir, "probe")
	if err := linkTmpfile(f, probe); err != nil {
		return false
	}
	return os.Remove(probe) == nil
}

func storeKey(dir string) (string, error) {
	p := filepath.Join(dir, storeKeyFile)
	b, err := os.ReadFile(p)
	if err == nil {
		k := strings.TrimSpace(string(b))
		if len(k) != 32 || !isHex(k) {
			return "", fmt.Errorf("%s: malformed key %q", p, k)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var r [16]byte
	rand.Read(r[:])
	k := hex.EncodeToString(r[:])
	// Written through a temp file and a rename, so a crash never leaves an
	// empty key file behind.
	tmp := p + ".new"
	if err := writeSync(tmp, []byte(k+"\n")); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", err
	}
	if err := syncDir(dir); err != nil {
		return "", err
	}
	return k, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func writeSync(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// relPath is the path of file id relative to its store.
func relPath(id int64) (string, error) {
	if id < 0 || id >= maxFileID {
		return "", fmt.Errorf("file ID %d outside [0, 512^4)", id)
	}
	return fmt.Sprintf("%03X/%03X/%03X/%03X", id>>27&511, id>>18&511, id>>9&511, id&511), nil
}

// validRel reports whether rel has the shape relPath produces, so that a
// row can never make the node touch anything outside its store.
func validRel(rel string) bool {
	if len(rel) != 15 {
		return false
	}
	for i := 0; i < len(rel); i++ {
		c := rel[i]
		if i%4 == 3 {
			if c != '/' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// abs is the absolute path of rel in the store.
func (s *store) abs(rel string) (string, error) {
	if !validRel(rel) {
		return "", fmt.Errorf("bad store path %q", rel)
	}
	return filepath.Join(s.dir, filepath.FromSlash(rel)), nil
}

// space reports the file system's total bytes and the bytes available to us.
func (s *store) space() (total, avail int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize), nil
}

// tempFile is a file being received into a store. Nothing of it is visible
// under the store's paths until commit links it into place.
type tempFile struct {
	st   *store
	f    *os.File
	name string // "" for an unnamed (O_TMPFILE) one
	crc  uint32
	n    int64
	done bool
	// direct: large aligned writes bypass the page cache (O_DIRECT), as a
	// received file is not read back soon and copying it into the cache
	// costs more CPU than the network and the disk together. The first
	// write decides; an unaligned one (the tail) turns it off again.
	direct, tried bool
}

// directMin is the first write from which a temp file is written O_DIRECT.
const directMin = 128 << 10

// createTemp opens a new temp file. An unnamed one takes no name in the
// temp directory that all uploads share: under 32 concurrent small uploads
// a named create and unlink there cost ~4x the system CPU (ext4).
func (s *store) createTemp() (*tempFile, error) {
	if s.unnamed {
		f, err := openTmpfile(filepath.Join(s.dir, tmpDir))
		if err != nil {
			return nil, err
		}
		return &tempFile{st: s, f: f}, nil
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "up-*")
	if err != nil {
		return nil, err
	}
	return &tempFile{st: s, f: f, name: f.Name()}, nil
}

// Write appends p and updates the running CRC32C.
func (t *tempFile) Write(p []byte) (int, error) {
	if !t.tried {
		t.tried = true
		t.direct = len(p) >= directMin && directOK(p) && setDirect(t.f, true)
	}
	if t.direct && !directOK(p) {
		t.direct = !setDirect(t.f, false)
	}
	n, err := t.f.Write(p)
	if t.direct && n == 0 && errors.Is(err, syscall.EINVAL) {
		// the file system took the flag but not the write
		t.direct = !setDirect(t.f, false)
		n, err = t.f.Write(p)
	}
	t.crc = crc32.Update(t.crc, castagnoli, p[:n])
	t.n += int64(n)
	return n, err
}

// commit moves the file to rel (creating directories), fsyncs it and the
// directory, and returns the file's ctime after the move.
//
// The link comes before the fsyncs, not between them: the new name then
// rides in the journal commit that the file's fsync makes anyway (ext4 on
// this project's machine: about 0.75x the time per small file of fsync,
// link, fsync; BenchmarkTempCommit). Where the file system guarantees that
// (linkRidesFsync: ext4 with a journal, XFS) the directory's fsync is
// skipped: it found the link committed but, with other uploads linking
// into the same directory meanwhile, waited for their journal commit too
// (seen: 4-8 ms under load, as long as the file's own fsync).
// Until the row says otherwise, a file at its final path is nothing: a
// crash before the fsyncs leaves a name no committed row points to.
func (t *tempFile) commit(rel string) (int64, error) {
	dst, err := t.st.abs(rel)
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(dst)
	if err := mkdirAllSync(t.st.dir, dir); err != nil {
		return 0, err
	}
	// A hard link never replaces an existing file (os.ErrExist), where a
	// rename would; a temp name then goes.
	if t.name == "" {
		err = linkTmpfile(t.f, dst)
	} else {
		err = os.Link(t.name, dst)
	}
	if err != nil {
		return 0, err
	}
	t.done = true
	if t.name != "" {
		err = os.Remove(t.name)
	}
	if err == nil {
		err = t.f.Sync()
	}
	if err == nil && !t.st.linkSynced {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(dst)
		return 0, err
	}
	fi, err := t.f.Stat()
	if err != nil {
		return 0, err
	}
	t.f.Close()
	return ctimeOf(fi), nil
}

// abort removes the temp file unless it was committed.
func (t *tempFile) abort() {
	t.f.Close()
	if !t.done && t.name != "" {
		os.Remove(t.name)
	}
}

// mkdirAllSync creates dir below root and fsyncs each parent whose entry was
// added, so that a renamed file's directory survives a crash.
func mkdirAllSync(root, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != root && len(parent) > len(root) {
		if err := mkdirAllSync(root, parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func crcUpdate(crc uint32, p []byte) uint32 { return crc32.Update(crc, castagnoli, p) }

// fsID identifies the file system of dir, so that stores on one file
// system are counted once.
func fsID(dir string, total int64) [2]int64 {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return [2]int64{-1, total}
	}
	return [2]int64{int64(st.Dev), total}
}
