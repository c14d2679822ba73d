package storagenode

import (
	"time"

	"github.com/tnv-s3/tnv/proto"
)

// phaseClock times the steps of one upload for the per-phase histograms
// (tnv_phase_seconds, --metrics-listen): each mark closes the phase that ran
// since the previous mark. The phases are recorded by done, on success only,
// so that every phase of a command counts the same uploads. Without Metrics
// it is nil and costs nothing.
type phaseClock struct {
	s     *Server
	cmd   uint8
	last  time.Time
	n     int
	names [8]string
	took  [8]time.Duration
}

// phases starts the clock of an UPLOAD, or of a REPLICATE when replica.
func (s *Server) phases(replica bool) *phaseClock {
	if s.cfg.Metrics == nil {
		return nil
	}
	cmd := proto.CmdStorageUpload
	if replica {
		cmd = proto.CmdStorageReplicate
	}
	return &phaseClock{s: s, cmd: cmd, last: time.Now()}
}

// mark ends phase name now.
func (p *phaseClock) mark(name string) {
	if p == nil || p.n == len(p.names) {
		return
	}
	now := time.Now()
	p.names[p.n], p.took[p.n] = name, now.Sub(p.last)
	p.n++
	p.last = now
}

// done records the phases marked.
func (p *phaseClock) done() {
	if p == nil {
		return
	}
	for i := range p.n {
		p.s.cfg.Metrics.Phase(p.cmd, p.names[i], p.took[i])
	}
}
