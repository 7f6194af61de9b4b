// Command reexec is a Go test program for the sentry (issue 9: "a Go
// program that re-executes itself through os.Executable").
//
// Run without arguments, it prints os.Executable(), re-executes that file
// through os/exec with an argument and an environment variable, and prints
// the child's output and exit status. The child writes a file under /tmp
// (os.CreateTemp), renames it, reads it back, lists its directory, runs
// goroutines that exchange values over channels (one of them spins without
// function calls, so the others only run if the runtime's preemption
// signals work), receives a signal through os/signal, and exits with
// status 7. The parent exits with status 3.
//
// All output is deterministic (no pids, times or random names) so that a
// native run and a sandboxed run can be compared byte for byte. Built with
// CGO_ENABLED=0, it is a static executable.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const childEnv = "SENTRY_GO_REEXEC_CHILD"

func main() {
	exe, err := os.Executable()
	if err != nil {
		fmt.Printf("os.Executable: error %v\n", err)
		os.Exit(1)
	}
	if os.Getenv(childEnv) != "" {
		os.Exit(child(exe))
	}
	os.Exit(parent(exe))
}

func parent(exe string) int {
	fmt.Printf("parent: executable %s\n", exe)
	fmt.Printf("parent: args %q\n", os.Args[1:])
	cmd := exec.Command(exe, "child", "two words")
	cmd.Env = append(os.Environ(), childEnv+"=from-parent")
	cmd.Stdin = strings.NewReader("input for the child\n")
	out, err := cmd.Output()
	code := 0
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			fmt.Printf("parent: running the child failed: %v\n", err)
			return 1
		}
	}
	fmt.Printf("parent: child output (%d bytes):\n", len(out))
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if line != "" {
			fmt.Printf("  | %s", line)
		}
	}
	fmt.Printf("parent: child exit status %d\n", code)
	fmt.Printf("parent: same executable for the child: %v\n",
		strings.Contains(string(out), "child: executable "+exe+"\n"))
	return 3
}

func child(exe string) int {
	fmt.Printf("child: executable %s\n", exe)
	fmt.Printf("child: args %q\n", os.Args[1:])
	fmt.Printf("child: %s=%s\n", childEnv, os.Getenv(childEnv))
	in := make([]byte, 64)
	n, _ := os.Stdin.Read(in)
	fmt.Printf("child: stdin %q\n", in[:n])
	ok := files() && goroutines() && signals()
	if !ok {
		return 1
	}
	return 7
}

func fail(what string, err error) bool {
	fmt.Printf("child: %s: error %v\n", what, err)
	return false
}

// files writes, renames, reads back and lists files in a fresh directory
// under /tmp, printing only names it chose.
func files() bool {
	dir, err := os.MkdirTemp("/tmp", "sentry-go-reexec-")
	if err != nil {
		return fail("MkdirTemp", err)
	}
	defer os.RemoveAll(dir)
	f, err := os.CreateTemp(dir, "data-*.txt")
	if err != nil {
		return fail("CreateTemp", err)
	}
	tmpName := filepath.Base(f.Name())
	fmt.Printf("child: temp file name matches: %v\n",
		strings.HasPrefix(tmpName, "data-") && strings.HasSuffix(tmpName, ".txt"))
	text := "hello from the re-executed child\nsecond line\n"
	if _, err := f.WriteString(text); err != nil {
		return fail("write", err)
	}
	if err := f.Close(); err != nil {
		return fail("close", err)
	}
	renamed := filepath.Join(dir, "renamed.txt")
	if err := os.Rename(f.Name(), renamed); err != nil {
		return fail("rename", err)
	}
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		fmt.Printf("child: old name still there: %v\n", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("x"), 0o600); err != nil {
		return fail("WriteFile", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		return fail("Mkdir", err)
	}
	back, err := os.ReadFile(renamed)
	if err != nil {
		return fail("ReadFile", err)
	}
	fmt.Printf("child: read back %d bytes, same: %v\n", len(back), string(back) == text)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fail("ReadDir", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return fail("Info", err)
		}
		size := info.Size()
		if e.IsDir() {
			size = 0
		}
		fmt.Printf("child: entry %s dir=%v mode=%v size=%d\n", e.Name(), e.IsDir(), info.Mode(), size)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fail("RemoveAll", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		fmt.Printf("child: directory still there: %v\n", err)
	}
	fmt.Printf("child: files ok\n")
	return true
}

var sink int64

// spin loops without function calls (so without cooperative preemption
// points) until stop is set: with GOMAXPROCS=1 nothing else runs unless the
// runtime preempts it with a signal (SIGURG through tgkill).
func spin(stop *int32) {
	x := int64(0)
	for atomic.LoadInt32(stop) == 0 {
		x++
	}
	atomic.AddInt64(&sink, x)
}

// goroutines runs a pipeline of workers over channels with a WaitGroup.
func goroutines() bool {
	var stop int32
	spun := make(chan struct{})
	go func() {
		spin(&stop)
		close(spun)
	}()

	jobs := make(chan int)
	results := make(chan int, 4)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for j := range jobs {
				results <- j * j
			}
		}(w)
	}
	go func() {
		for i := 1; i <= 100; i++ {
			jobs <- i
		}
		close(jobs)
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	sum, count := 0, 0
	for r := range results {
		sum += r
		count++
	}
	fmt.Printf("child: %d results, sum of squares %d\n", count, sum)

	// Timers and a sleep while the spinner runs.
	timer := time.NewTimer(5 * time.Millisecond)
	<-timer.C
	time.Sleep(2 * time.Millisecond)
	atomic.StoreInt32(&stop, 1)
	<-spun

	// Ping-pong between two goroutines.
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	v := 0
	for i := 0; i < 1000; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	<-pong
	fmt.Printf("child: ping-pong reached %d\n", v)
	return true
}

// signals delivers SIGUSR1 to this process and receives it through
// os/signal.
func signals() bool {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		return fail("kill", err)
	}
	select {
	case s := <-c:
		fmt.Printf("child: received %v\n", s)
	case <-time.After(10 * time.Second):
		fmt.Printf("child: no signal within 10 s\n")
		return false
	}
	signal.Stop(c)
	return true
}
