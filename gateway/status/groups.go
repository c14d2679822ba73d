// Package status serves the gateway's reserved routes under /_tnv/: a health
// check, a status page of the cluster (groups, nodes, state, capacity, last
// beat, sync progress) and Prometheus metrics, all from the tracker's GROUPS
// text (documented in docs/protocol.md) and the process's own registry.
package status

import "github.com/tnv-s3/tnv/proto"

// Group is one group of the GROUPS text.
type Group = proto.Group

// Node is one storage node of the GROUPS text.
type Node = proto.GroupNode

// Parse reads the tracker's GROUPS text (proto.ParseGroups).
func Parse(text string) []Group { return proto.ParseGroups(text) }
