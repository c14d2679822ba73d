package storagenode

import (
	"sync"

	"github.com/tnv-s3/tnv/proto"
)

// pendingCopiesMax bounds pendingCopies: past it an entry is dropped at
// random, which costs the syncer one read when its put arrives.
const pendingCopiesMax = 4096

// pendingCopies remembers the pending rows this node's REPLICATEs
// inserted, by file, so that when the group log's put of one arrives the
// syncer flips it without first reading the row and the log (fileState):
// one statement fewer per mirrored upload. A miss (the node restarted, the
// entry was dropped, another upload replaced the row) falls back to that
// read; the flip itself only moves a row still pending with the entry's
// size and CRC32C (flipIn).
type pendingCopies struct {
	mu sync.Mutex
	m  map[proto.FileRef]*fileRow
}

func (p *pendingCopies) add(ref proto.FileRef, r *fileRow) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[proto.FileRef]*fileRow{}
	}
	if _, ok := p.m[ref]; !ok && len(p.m) >= pendingCopiesMax {
		for k := range p.m {
			delete(p.m, k)
			break
		}
	}
	p.m[ref] = r
}

// take returns and forgets the pending row of ref if it holds size and
// crc, else nil.
func (p *pendingCopies) take(ref proto.FileRef, size int64, crc uint32) *fileRow {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.m[ref]
	if r == nil || r.size != size || r.crc != crc {
		return nil
	}
	delete(p.m, ref)
	return r
}
