package status

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// NewClusterCollector returns a collector of the cluster's state as the
// GROUPS text reports it at scrape time: node states, capacity, free space,
// sync progress and replication lag. The gateway asks a tracker for the
// text; a tracker serving its own /metrics gives its own.
func NewClusterCollector(groups func(ctx context.Context) (string, error)) prometheus.Collector {
	return &clusterCollector{groups: func(ctx context.Context) ([]Group, error) {
		text, err := groups(ctx)
		if err != nil {
			return nil, err
		}
		return Parse(text), nil
	}}
}

// clusterCollector is the collector of NewClusterCollector.
type clusterCollector struct {
	groups func(ctx context.Context) ([]Group, error)
}

var (
	descUp       = prometheus.NewDesc("tnv_cluster_tracker_up", "1 if the tracker answered GROUPS at this scrape.", nil, nil)
	descState    = prometheus.NewDesc("tnv_node_state", "1 for the node's current state (OFFLINE, ONLINE, ACTIVE).", []string{"group", "node", "state"}, nil)
	descSync     = prometheus.NewDesc("tnv_node_sync_state", "1 for the node's current sync state (ACTIVE, WAIT_SYNC, SYNCING).", []string{"group", "node", "sync"}, nil)
	descProgress = prometheus.NewDesc("tnv_node_sync_progress_ratio", "Catch-up progress of the node, 0..1.", []string{"group", "node"}, nil)
	descLag      = prometheus.NewDesc("tnv_node_replication_lag", "Group log entries the node has yet to apply.", []string{"group", "node"}, nil)
	descFree     = prometheus.NewDesc("tnv_node_free_bytes", "Free bytes on the node's stores.", []string{"group", "node"}, nil)
	descTotal    = prometheus.NewDesc("tnv_node_capacity_bytes", "Capacity of the node's stores in bytes.", []string{"group", "node"}, nil)
	descBeat     = prometheus.NewDesc("tnv_node_last_beat_age_seconds", "Seconds since the node's last BEAT.", []string{"group", "node"}, nil)
	descReadable = prometheus.NewDesc("tnv_group_readable_nodes", "Nodes of the group that the tracker hands out.", []string{"group"}, nil)
)

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descState, descSync, descProgress, descLag, descFree, descTotal, descBeat, descReadable} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	gs, err := c.groups(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, g := range gs {
		gauge(descReadable, float64(g.Read), g.Name)
		for _, n := range g.Nodes {
			for _, s := range []string{"OFFLINE", "ONLINE", "ACTIVE"} {
				gauge(descState, b2f(n.State == s), g.Name, n.Addr, s)
			}
			for _, s := range []string{"ACTIVE", "WAIT_SYNC", "SYNCING"} {
				gauge(descSync, b2f(n.Sync == s), g.Name, n.Addr, s)
			}
			if n.Progress >= 0 {
				gauge(descProgress, float64(n.Progress)/100, g.Name, n.Addr)
			}
			if n.Lag >= 0 {
				gauge(descLag, float64(n.Lag), g.Name, n.Addr)
			}
			if n.Free >= 0 {
				gauge(descFree, float64(n.Free), g.Name, n.Addr)
			}
			if n.Total >= 0 {
				gauge(descTotal, float64(n.Total), g.Name, n.Addr)
			}
			if n.BeatAge >= 0 {
				gauge(descBeat, float64(n.BeatAge), g.Name, n.Addr)
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
