//go:build !unix

package config

import "os"

// fileID reports no identity where the platform has no inodes; every change
// is then treated as written in place and applied once it has settled.
func fileID(os.FileInfo) (dev, ino uint64, ok bool) {
	return 0, 0, false
}
