package main

import "time"

// gcFlagSet is the collector's timing, for `tnv gateway` and `tnv up`.
type gcFlagSet struct{ delay, interval *time.Duration }

// gcFlags adds --gc-delay and --gc-interval. The bench (bench/) shortens
// both so that the collection of the blobs an overwrite replaces is paid
// inside the measurement instead of minutes after it.
func (f *flags) gcFlags() gcFlagSet {
	return gcFlagSet{
		delay:    f.Duration("gc-delay", 2*time.Minute, "how long replaced or deleted blobs stay readable (for GETs in flight) before they are deleted; rounded down to whole seconds"),
		interval: f.Duration("gc-interval", 10*time.Second, "how often the collector looks for blobs due for deletion"),
	}
}
