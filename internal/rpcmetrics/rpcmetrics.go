// Package rpcmetrics counts the TNV requests a server answers, for the
// Prometheus endpoint of `--metrics-listen`: requests by command and result,
// latency, and bytes moved. A nil *Metrics counts nothing, so servers run
// the same with and without it.
package rpcmetrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tnv-s3/tnv/proto"
)

// Metrics of one server role.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	phases   *prometheus.HistogramVec // phases.go
}

// New makes the metrics of role ("tracker", "idserver", "storage") and
// registers them on reg.
func New(role string, reg prometheus.Registerer) *Metrics {
	labels := prometheus.Labels{"role": role}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tnv_requests_total", Help: "TNV requests answered, by command and result (ok or the errno name).", ConstLabels: labels,
		}, []string{"cmd", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tnv_request_duration_seconds", Help: "Time from a request's header to its reply, by command.", ConstLabels: labels,
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 30},
		}, []string{"cmd"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tnv_bytes_total", Help: "File bytes received (in) and sent (out), by command.", ConstLabels: labels,
		}, []string{"cmd", "direction"}),
	}
	m.phases = newPhases(labels)
	reg.MustRegister(m.requests, m.duration, m.bytes, m.phases)
	return m
}

// Observe counts one answered request; errno 0 is success.
func (m *Metrics) Observe(cmd uint8, errno int16, took time.Duration) {
	if m == nil {
		return
	}
	name := CmdName(cmd)
	m.requests.WithLabelValues(name, ErrnoName(errno)).Inc()
	m.duration.WithLabelValues(name).Observe(took.Seconds())
}

// Bytes counts n file bytes moved for cmd; direction is "in" or "out".
func (m *Metrics) Bytes(cmd uint8, direction string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.bytes.WithLabelValues(CmdName(cmd), direction).Add(float64(n))
}

var cmdNames = map[uint8]string{
	proto.CmdTrackerJoin: "JOIN", proto.CmdTrackerBeat: "BEAT", proto.CmdTrackerSaddrs: "SADDRS",
	proto.CmdTrackerGroups: "GROUPS", proto.CmdTrackerMembers: "MEMBERS", proto.CmdIDGet: "ID_GET",
	proto.CmdIDGetBlock:    "ID_GET_BLOCK",
	proto.CmdStorageUpload: "UPLOAD", proto.CmdStorageFilesize: "FILESIZE",
	proto.CmdStorageDownload: "DOWNLOAD", proto.CmdStorageDelete: "DELETE",
	proto.CmdStorageReplicate: "REPLICATE", proto.CmdStorageReplicateDelete: "REPLICATE_DELETE",
	proto.CmdStorageFetch: "FETCH", proto.CmdStorageScrub: "SCRUB", proto.CmdStorageStat: "STAT",
	proto.CmdStorageLocalOpen: "LOCAL_OPEN", proto.CmdStorageDownloadLive: "DOWNLOAD_LIVE",
	proto.CmdStorageLocalOpenLive: "LOCAL_OPEN_LIVE", proto.CmdStorageHold: "HOLD", proto.CmdStorageReplicateLinked: "REPLICATE_LINKED",
	proto.CmdStorageUploadStaged: "UPLOAD_STAGED",
}

// CmdName is a command's name for labels; unknown ones are their number.
func CmdName(cmd uint8) string {
	if n, ok := cmdNames[cmd]; ok {
		return n
	}
	return strconv.Itoa(int(cmd))
}

var errnoNames = map[int16]string{
	0: "ok", proto.ENOENT: "ENOENT", proto.EIO: "EIO", proto.EAGAIN: "EAGAIN", proto.EACCES: "EACCES",
	proto.EEXIST: "EEXIST", proto.EXDEV: "EXDEV", proto.EINVAL: "EINVAL", proto.ENOSPC: "ENOSPC", proto.ERANGE: "ERANGE",
	proto.ENAMETOOLONG: "ENAMETOOLONG", proto.ENOSYS: "ENOSYS", proto.EPROTO: "EPROTO",
	proto.EBADMSG: "EBADMSG", proto.EMSGSIZE: "EMSGSIZE",
}

// ErrnoName is an errno's name for labels ("ok" for 0).
func ErrnoName(errno int16) string {
	if n, ok := errnoNames[errno]; ok {
		return n
	}
	return "E" + strconv.Itoa(int(errno))
}
