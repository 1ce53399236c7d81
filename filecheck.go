package engram

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// preflight checks a store file's bbolt meta pages before bbolt maps the file. bbolt
// trusts the high-water mark in its meta page: on a truncated file it would read pages past
// the end of the mapping, which is a SIGBUS, not an error. So Open reads both meta pages
// itself (the format is bbolt's, version 2: a 16-byte page header, then magic, version,
// page size, flags, root bucket {root, sequence}, freelist, high-water mark, txid and an
// FNV-64a checksum of everything before it) and refuses a file shorter than the newest
// valid meta says. A missing or empty file passes (bbolt creates it).
func preflight(path string) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return nil
	}
	var best *bboltMeta
	for _, off := range []int64{0, -1} {
		if off < 0 {
			if best == nil {
				break
			}
			off = int64(best.pageSize)
		}
		buf := make([]byte, 16+64)
		if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
			continue
		}
		m, ok := parseMeta(buf[16:])
		if ok && (best == nil || m.txid > best.txid) {
			best = &m
		}
	}
	if best == nil {
		return fmt.Errorf("no valid bbolt meta page")
	}
	if need := int64(best.pgid) * int64(best.pageSize); need > size {
		return fmt.Errorf("file of %d bytes is truncated: its meta page describes %d", size, need)
	}
	if best.root >= best.pgid || (best.freelist >= best.pgid && best.freelist != ^uint64(0)) {
		return fmt.Errorf("meta page points past the end of the data (root %d, freelist %d, pages %d)", best.root, best.freelist, best.pgid)
	}
	return nil
}

type bboltMeta struct {
	pageSize                   uint32
	root, freelist, pgid, txid uint64
}

func parseMeta(b []byte) (bboltMeta, bool) {
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != 0xED0CDAED || le.Uint32(b[4:]) != 2 {
		return bboltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != le.Uint64(b[56:]) {
		return bboltMeta{}, false
	}
	m := bboltMeta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]),
		pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<20 || m.pageSize&(m.pageSize-1) != 0 {
		return bboltMeta{}, false
	}
	return m, true
}
