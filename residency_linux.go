package engram

import "golang.org/x/sys/unix"

// dropMapping drops the page-table entries of size bytes of the file mapping at addr
// (MADV_DONTNEED; see residency.go). Errors are ignored: the call only affects accounting.
func dropMapping(addr uintptr, size int64) {
	if addr == 0 || size <= 0 {
		return
	}
	page := int64(unix.Getpagesize())
	size = (size + page - 1) / page * page
	unix.Syscall(unix.SYS_MADVISE, addr, uintptr(size), unix.MADV_DONTNEED)
}
