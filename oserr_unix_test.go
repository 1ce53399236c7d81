//go:build unix

package engram

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPermissionDeniedIsNotCorrupt: a store file the user may not read is refused with
// ACCESS wrapping fs.ErrPermission — from Open's pre-flight check, read-write and
// read-only — not CORRUPT. Root passes every permission check, so under root the test
// re-runs itself as the user nobody (a copy of the test binary in a directory nobody can
// read); it skips only when that is impossible.
func TestPermissionDeniedIsNotCorrupt(t *testing.T) {
	if p := os.Getenv("ENGRAM_PERM_CHILD"); p != "" {
		for _, opts := range [][]Option{nil, {WithReadOnly()}} {
			_, err := Open(p, opts...)
			fmt.Printf("result code=%s retryable=%v permission=%v err=%v\n", CodeOf(err), IsRetryable(err), errors.Is(err, fs.ErrPermission), err)
		}
		return
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "locked.db")
	s, err := Open(store)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(store, 0); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		for _, opts := range [][]Option{nil, {WithReadOnly()}} {
			_, err := Open(store, opts...)
			if CodeOf(err) != CodeAccess || IsRetryable(err) || !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("Open of a mode-0000 file = %v, want non-retryable ACCESS wrapping fs.ErrPermission", err)
			}
		}
		return
	}
	out := runAsNobody(t, dir, "TestPermissionDeniedIsNotCorrupt", "ENGRAM_PERM_CHILD="+store)
	lines := 0
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "result ") {
			continue
		}
		lines++
		if !strings.Contains(l, "code=ACCESS retryable=false permission=true") {
			t.Fatalf("as nobody: %s", l)
		}
	}
	if lines != 2 {
		t.Fatalf("child printed %d results:\n%s", lines, out)
	}
}

// runAsNobody runs the test binary's test named run as the user nobody, in dir (made
// traversable), and returns its output. It skips the test when the machine does not allow
// it.
func runAsNobody(t *testing.T, dir, run string, env ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Skipf("cannot find the test binary: %v", err)
	}
	// The test binary lives in a directory only root may enter: copy it out.
	bin := filepath.Join(dir, "engram.test")
	if err := copyFile(exe, bin, 0o755); err != nil {
		t.Skipf("cannot copy the test binary: %v", err)
	}
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o005); err != nil {
				t.Skipf("cannot open %s to other users: %v", d, err)
			}
			defer os.Chmod(d, fi.Mode().Perm())
		}
	}
	cmd := exec.Command(bin, "-test.run=^"+run+"$", "-test.count=1", "-test.v")
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatal("the child running as nobody hung")
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Skipf("cannot run a child as nobody: %v", err)
		}
		t.Fatalf("child as nobody failed: %v\n%s", err, out)
	}
	return string(out)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestOpenPipeDoesNotHang: a named pipe at the store's path is refused with ACCESS at
// once; opening it to read its meta page would wait for a writer forever.
func TestOpenPipeDoesNotHang(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pipe.db")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := Open(p); done <- err }()
	select {
	case err := <-done:
		if CodeOf(err) != CodeAccess || !errors.Is(err, errNotRegular) {
			t.Fatalf("Open of a pipe = %v, want ACCESS (not a regular file)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Open of a named pipe hangs")
	}
}
