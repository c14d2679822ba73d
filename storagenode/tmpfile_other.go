//go:build !linux

package storagenode

import (
	"errors"
	"os"
)

func openTmpfile(dir string) (*os.File, error) { return nil, errors.ErrUnsupported }

func linkTmpfile(f *os.File, dst string) error { return errors.ErrUnsupported }
