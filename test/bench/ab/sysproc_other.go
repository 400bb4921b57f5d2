//go:build !linux

package ab

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
