//go:build unix

package config

import (
	"os"
	"syscall"
)

// fileID returns the device and inode of a file, which tell a file written
// in place (same inode) from one renamed over the path (a new inode).
func fileID(fi os.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	// The conversions matter off Linux, where Dev and Ino have other types.
	return uint64(st.Dev), uint64(st.Ino), true
}
