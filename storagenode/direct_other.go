//go:build !linux

package storagenode

import "os"

func setDirect(f *os.File, on bool) bool { return false }

func directOK(p []byte) bool { return false }
