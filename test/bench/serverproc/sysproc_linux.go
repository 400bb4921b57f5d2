package serverproc

import "syscall"

// sysProcAttr makes a child die with the runner, so an interrupted run
// leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
